"""The GraphQL documents the Shopify back-end sends (Admin API 2025-10).

Every document is one named operation, so Shopify's logs (and our fake) can tell
them apart. Page sizes are small on purpose: Shopify prices a query by the worst
case of its connections (`first` times the cost of each node) before running it,
and refuses one above 1,000 points, so the full order is read by id, one order
per request, never inside a list.

Limits that follow: an order shows at most 30 lines, 5 fulfilments (10 events
each), 10 refunds and 5 returns; a customer's list holds their 10 newest orders;
a product offers at most 50 variants to exchange for.
"""

from __future__ import annotations

MONEY = "presentmentMoney { amount currencyCode }"

ORDER_FIELDS = f"""
  id
  name
  createdAt
  cancelledAt
  tags
  email
  phone
  presentmentCurrencyCode
  displayFinancialStatus
  displayFulfillmentStatus
  paymentGatewayNames
  customer {{
    id
    displayName
    defaultEmailAddress {{ emailAddress }}
    defaultPhoneNumber {{ phoneNumber }}
  }}
  totalPriceSet {{ {MONEY} }}
  totalShippingPriceSet {{ {MONEY} }}
  shippingAddress {{
    name firstName lastName address1 address2 city province provinceCode zip countryCodeV2
  }}
  lineItems(first: 30) {{
    nodes {{
      id sku name quantity originalUnitPriceSet {{ {MONEY} }}
      product {{ id tags hasOnlyDefaultVariant }}
      variant {{ id inventoryQuantity selectedOptions {{ name value }} }}
    }}
  }}
  fulfillmentOrders(first: 5) {{
    nodes {{
      id
      status
      deliveryMethod {{ methodType presentedName maxDeliveryDateTime }}
      assignedLocation {{ name }}
      lineItems(first: 30) {{ nodes {{ remainingQuantity lineItem {{ id }} }} }}
    }}
  }}
  fulfillments(first: 5) {{
    id
    createdAt
    displayStatus
    estimatedDeliveryAt
    deliveredAt
    trackingInfo(first: 1) {{ company number url }}
    events(first: 10, sortKey: HAPPENED_AT) {{
      nodes {{ status happenedAt message city province country }}
    }}
    fulfillmentLineItems(first: 30) {{ nodes {{ id quantity lineItem {{ id }} }} }}
  }}
  transactions(first: 10) {{ kind status gateway processedAt amountSet {{ {MONEY} }} }}
  refunds(first: 10) {{
    id
    createdAt
    return {{ id }}
    totalRefundedSet {{ {MONEY} }}
    transactions(first: 5) {{ nodes {{ kind status gateway processedAt }} }}
  }}
  returns(first: 5) {{
    nodes {{
      id
      name
      status
      createdAt
      decline {{ reason note }}
      returnLineItems(first: 30) {{
        nodes {{
          id
          quantity
          returnReason
          customerNote
          returnReasonNote
          ... on ReturnLineItem {{ fulfillmentLineItem {{ id lineItem {{ id }} }} }}
        }}
      }}
    }}
  }}
"""

ORDER_BY_ID = f"""
query OrderById($id: ID!) {{
  order(id: $id) {{ {ORDER_FIELDS} }}
}}
"""

ORDERS_BY_SEARCH = """
query OrdersBySearch($query: String!, $first: Int!) {
  orders(first: $first, query: $query, sortKey: CREATED_AT, reverse: true) {
    nodes { id name }
  }
}
"""

CUSTOMERS_BY_PHONE = """
query CustomersByPhone($query: String!) {
  customers(first: 5, query: $query) {
    nodes { id defaultPhoneNumber { phoneNumber } }
  }
}
"""

CANCEL_JOB = """
query CancelJob($id: ID!) {
  job(id: $id) { id done }
}
"""

TAGS_ADD = """
mutation OrderTagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}
"""

ORDER_CANCEL = """
mutation OrderCancel(
  $orderId: ID!, $refundMethod: OrderCancelRefundMethodInput!, $restock: Boolean!,
  $reason: OrderCancelReason!, $notifyCustomer: Boolean, $staffNote: String
) {
  orderCancel(
    orderId: $orderId, refundMethod: $refundMethod, restock: $restock, reason: $reason,
    notifyCustomer: $notifyCustomer, staffNote: $staffNote
  ) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

RETURN_REQUEST = """
mutation ReturnRequest($input: ReturnRequestInput!) {
  returnRequest(input: $input) {
    return { id name status }
    userErrors { field message code }
  }
}
"""

PRODUCT_VARIANTS = """
query ProductVariants($id: ID!) {
  product(id: $id) {
    id
    variants(first: 50) {
      nodes {
        id sku title price availableForSale inventoryQuantity
        selectedOptions { name value }
      }
    }
  }
}
"""

RETURN_CREATE = """
mutation ReturnCreate($returnInput: ReturnInput!) {
  returnCreate(returnInput: $returnInput) {
    return { id name status }
    userErrors { field message code }
  }
}
"""

ORDER_UPDATE = """
mutation OrderUpdate($input: OrderInput!) {
  orderUpdate(input: $input) {
    order { id }
    userErrors { field message }
  }
}
"""

DOCUMENTS: dict[str, str] = {
    "OrderById": ORDER_BY_ID,
    "OrdersBySearch": ORDERS_BY_SEARCH,
    "CustomersByPhone": CUSTOMERS_BY_PHONE,
    "CancelJob": CANCEL_JOB,
    "OrderTagsAdd": TAGS_ADD,
    "OrderCancel": ORDER_CANCEL,
    "ReturnRequest": RETURN_REQUEST,
    "OrderUpdate": ORDER_UPDATE,
    "ProductVariants": PRODUCT_VARIANTS,
    "ReturnCreate": RETURN_CREATE,
}
"""Operation name -> document; the name is also sent as `operationName`."""
