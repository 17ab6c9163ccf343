"""The carriers' webhooks, verified and parsed: signatures computed here with each
carrier's documented algorithm (not with the code under test), every status table
entry, and unknown statuses kept verbatim."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from orders.carriers import (
    Forged,
    Malformed,
    RefundCompleted,
    Rejected,
    aftership,
    generic,
    shiprocket,
)
from orders.models import PackageStatus
from orders.tracking import CarrierUpdate

SECRET = "carrier-secret-for-tests"
NOW = datetime(2024, 5, 20, 6, 0, tzinfo=UTC)


def body_of(data: Any) -> bytes:
    return json.dumps(data).encode()


# --- generic ----------------------------------------------------------------------


def generic_headers(body: bytes, *, at: datetime = NOW, secret: str = SECRET) -> dict[str, str]:
    stamp = int(at.timestamp())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Signature": f"sha256={mac}", "X-Timestamp": str(stamp)}


def generic_event(**changes: Any) -> dict[str, Any]:
    event = {
        "event_id": "evt-1", "order_number": "100003", "tracking_number": "DL7040055433",
        "carrier": "Delhivery", "status": "out_for_delivery",
        "occurred_at": "2024-05-20T09:10:00+05:30", "location": "Bengaluru",
        "description": "Out for delivery", "tracking_url": "https://track.example/DL7040055433",
        "estimated_delivery": "2024-05-20",
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def parse_generic(data: Any, **header_options: Any) -> list[CarrierUpdate | RefundCompleted]:
    body = body_of(data)
    return generic.parse(generic_headers(body, **header_options), body, SECRET, now=NOW)


def test_generic_signed_event_is_parsed() -> None:
    [update] = parse_generic(generic_event())
    assert update == CarrierUpdate(
        provider="generic", event_id="evt-1", order_number="100003",
        tracking_number="DL7040055433", carrier="Delhivery",
        status=PackageStatus.OUT_FOR_DELIVERY, carrier_status="out_for_delivery",
        at=datetime(2024, 5, 20, 3, 40, tzinfo=UTC), location="Bengaluru",
        description="Out for delivery", tracking_url="https://track.example/DL7040055433",
        estimated_delivery=date(2024, 5, 20),
    )


def test_generic_accepts_a_batch_and_a_refund_completed() -> None:
    refund = {"event_id": "evt-2", "type": "refund_completed", "order_number": "#100014",
              "refund_id": "RF-100014-1", "occurred_at": "2024-05-20T05:00:00Z"}
    tracking, done = parse_generic([generic_event(), refund])
    assert isinstance(tracking, CarrierUpdate)
    assert done == RefundCompleted(provider="generic", event_id="evt-2", order_number="100014",
                                   refund_id="RF-100014-1",
                                   at=datetime(2024, 5, 20, 5, 0, tzinfo=UTC))


@pytest.mark.parametrize("words", sorted(generic.STATUS_BY_WORD))
def test_generic_status_table(words: str) -> None:
    [update] = parse_generic(generic_event(status=words))
    assert isinstance(update, CarrierUpdate)
    assert update.status is generic.STATUS_BY_WORD[words]
    assert update.carrier_status == words


def test_generic_status_words_are_forgiving_about_case_and_spaces() -> None:
    [update] = parse_generic(generic_event(status="Out for delivery"))
    assert isinstance(update, CarrierUpdate) and update.status is PackageStatus.OUT_FOR_DELIVERY


def test_generic_unknown_status_is_kept_verbatim() -> None:
    [update] = parse_generic(generic_event(status="Held at customs — पहचान पत्र चाहिए"))
    assert isinstance(update, CarrierUpdate)
    assert update.status is None
    assert update.carrier_status == "Held at customs — पहचान पत्र चाहिए"


def test_generic_event_id_is_a_digest_when_absent() -> None:
    [first] = parse_generic(generic_event(event_id=None))
    [again] = parse_generic(generic_event(event_id=None))
    [other] = parse_generic(generic_event(event_id=None, status="delivered"))
    assert first.event_id == again.event_id
    assert first.event_id.startswith("sha256:") and first.event_id != other.event_id


def test_generic_forged_unsigned_and_stale_are_refused() -> None:
    body = body_of(generic_event())
    wrong = generic_headers(body, secret="not-the-secret")
    with pytest.raises(Forged):
        generic.parse(wrong, body, SECRET, now=NOW)
    with pytest.raises(Forged):
        generic.parse({}, body, SECRET, now=NOW)
    with pytest.raises(Forged):  # signed for another body
        generic.parse(generic_headers(body), body.replace(b"100003", b"100004"), SECRET, now=NOW)
    for sent in (NOW - timedelta(minutes=6), NOW + timedelta(minutes=6)):
        with pytest.raises(Forged, match="5 minutes"):
            generic.parse(generic_headers(body, at=sent), body, SECRET, now=NOW)
    generic.parse(generic_headers(body, at=NOW - timedelta(minutes=4)), body, SECRET, now=NOW)


@pytest.mark.parametrize(("data", "message"), [
    ("not json", "not JSON"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ([generic_event()] * 101, "at most 100"),
])
def test_generic_malformed_bodies_say_why(data: Any, message: str) -> None:
    body = data.encode() if isinstance(data, str) else body_of(data)
    with pytest.raises(Malformed, match=message):
        generic.parse(generic_headers(body), body, SECRET, now=NOW)


@pytest.mark.parametrize(("data", "message"), [
    (generic_event(occurred_at=None), "occurred_at"),
    (generic_event(occurred_at="2024-05-20T09:10:00"), "UTC offset"),
    (generic_event(occurred_at="0001-01-01T00:00:00+05:30"), "occurred_at"),
    (generic_event(order_number=None), "order_number"),
    (generic_event(status=None), "status"),
    (generic_event(surprise=1), "unknown fields surprise"),
    (generic_event(**{"\ud800": 1}), r"unknown fields \\ud800"),
    (generic_event(type="parcel_eaten"), "type"),
    (generic_event(type=["tracking"]), "type"),
    (generic_event(estimated_delivery="soon"), "estimated_delivery"),
    (generic_event(location="Hub \udc00"), "location"),
])
def test_a_generic_event_that_cannot_be_read_is_rejected_alone(data: Any, message: str) -> None:
    body = body_of([generic_event(), data])
    good, bad = generic.parse(generic_headers(body), body, SECRET, now=NOW)
    assert not isinstance(good, Rejected)
    assert isinstance(bad, Rejected) and bad.index == 1
    assert re.search(message, bad.reason), bad.reason
    assert bad.reason.encode()  # safe to answer with: no lone surrogate in it


# --- Shiprocket -------------------------------------------------------------------


def shiprocket_body(**changes: Any) -> dict[str, Any]:
    """The shape of Shiprocket's documented tracking webhook."""
    body: dict[str, Any] = {
        "awb": 19041424751540, "courier_name": "Delhivery Surface",
        "current_status": "IN TRANSIT", "current_status_id": 20,
        "shipment_status": "IN TRANSIT", "shipment_status_id": 18,
        "current_timestamp": "23 05 2023 11:43:52", "order_id": "100003",
        "sr_order_id": 348456385, "awb_assigned_date": "2023-05-19 11:59:16",
        "pickup_scheduled_date": "2023-05-19 11:59:17", "etd": "2023-05-23 15:40:19",
        "scans": [
            {"date": "2023-05-19 11:59:16", "status": "X-UCI",
             "activity": "Manifested - Manifest uploaded",
             "location": "Chomu_SamodRd_D (Rajasthan)", "sr-status": "5",
             "sr-status-label": "MANIFEST GENERATED"},
            {"date": "2023-05-23 11:43:52", "status": "X-DLL2F",
             "activity": "In Transit - Shipment Recieved at Facility",
             "location": "Jaipur_Hub (Rajasthan)", "sr-status": "18",
             "sr-status-label": "IN TRANSIT"},
            {"date": "2023-05-20 08:00:00", "status": "X-PPOM",
             "activity": "In Transit - Shipment picked up",
             "location": "Chomu_SamodRd_D (Rajasthan)", "sr-status": "42",
             "sr-status-label": "PICKED UP"},
        ],
        "is_return": 0, "channel_id": 3422553, "pod_status": "OTP Based Delivery",
        "pod": "Not Available",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def parse_shiprocket(data: Any, token: str | None = SECRET) -> list[CarrierUpdate]:
    headers = {} if token is None else {"x-api-key": token}
    return shiprocket.parse(headers, body_of(data), SECRET, now=NOW)


def test_shiprocket_update_is_parsed() -> None:
    [update] = parse_shiprocket(shiprocket_body())
    assert update.provider == "shiprocket"
    assert update.order_number == "100003"
    assert update.tracking_number == "19041424751540"
    assert update.carrier == "Delhivery Surface"
    assert update.status is PackageStatus.AT_SORT_CENTRE
    assert update.carrier_status == "IN TRANSIT"
    assert update.at == datetime(2023, 5, 23, 6, 13, 52, tzinfo=UTC)  # 11:43:52 IST
    assert update.location == "Jaipur_Hub (Rajasthan)"  # the newest scan, not the last listed
    assert update.description == "In Transit - Shipment Recieved at Facility"
    assert update.estimated_delivery == date(2023, 5, 23)
    assert update.event_id.startswith("sha256:")
    assert parse_shiprocket(shiprocket_body())[0].event_id == update.event_id


def test_shiprocket_token_header_name_is_case_insensitive() -> None:
    [update] = shiprocket.parse({"X-Api-Key": SECRET}, body_of(shiprocket_body()), SECRET)
    assert update.order_number == "100003"


@pytest.mark.parametrize("token", [None, "", "wrong-token", SECRET + "x"])
def test_shiprocket_wrong_or_missing_token_is_refused(token: str | None) -> None:
    with pytest.raises(Forged):
        parse_shiprocket(shiprocket_body(), token=token)


def test_shiprocket_test_ping_is_verified_and_empty() -> None:
    assert shiprocket.parse({"x-api-key": SECRET}, b"", SECRET) == []
    with pytest.raises(Forged):
        shiprocket.parse({}, b"", SECRET)


@pytest.mark.parametrize("label", sorted(shiprocket.STATUS_BY_LABEL))
def test_shiprocket_label_table(label: str) -> None:
    [update] = parse_shiprocket(shiprocket_body(current_status=label, shipment_status_id=None))
    assert update.status is shiprocket.STATUS_BY_LABEL[label]
    assert update.carrier_status == label


@pytest.mark.parametrize("code", sorted(shiprocket.STATUS_BY_CODE))
def test_shiprocket_code_table_when_the_label_is_unknown(code: int) -> None:
    [update] = parse_shiprocket(shiprocket_body(
        current_status="Custom words", shipment_status="More words", shipment_status_id=code))
    assert update.status is shiprocket.STATUS_BY_CODE[code]
    assert update.carrier_status == "Custom words"


def test_shiprocket_label_wins_over_numbers_and_current_status_id_is_ignored() -> None:
    [update] = parse_shiprocket(shiprocket_body(
        current_status="Out_for_delivery", current_status_id=7, shipment_status_id=7))
    assert update.status is PackageStatus.OUT_FOR_DELIVERY
    [update] = parse_shiprocket(shiprocket_body(
        current_status="Custom", shipment_status=None, current_status_id=7,
        shipment_status_id=None))
    assert update.status is None


@pytest.mark.parametrize("label", ["RTO INITIATED", "DELAYED", "PICKUP EXCEPTION", "DAMAGED"])
def test_shiprocket_unknown_status_is_kept_verbatim(label: str) -> None:
    [update] = parse_shiprocket(shiprocket_body(
        current_status=label, shipment_status=label, shipment_status_id=99))
    assert update.status is None
    assert update.carrier_status == label


@pytest.mark.parametrize(("data", "message"), [
    (shiprocket_body(current_status=None, shipment_status=None), "current_status"),
    (shiprocket_body(current_timestamp="yesterday"), "current_timestamp"),
    (shiprocket_body(scans="none"), "scans"),
    (shiprocket_body(current_timestamp=None, scans=[]), "current_timestamp"),
    ([1, 2], "JSON object"),
])
def test_shiprocket_malformed_bodies_say_why(data: Any, message: str) -> None:
    with pytest.raises(Malformed, match=message):
        parse_shiprocket(data)


# --- AfterShip --------------------------------------------------------------------


def aftership_signature(body: bytes, secret: str = SECRET) -> str:
    """AfterShip's documented algorithm: base64(HMAC-SHA256(secret, body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def aftership_body(tag: str | None = "OutForDelivery", subtag: str | None = "OutForDelivery_001",
                   subtag_message: str | None = "Out for Delivery", **msg: Any) -> dict[str, Any]:
    checkpoint = {"checkpoint_time": "2024-05-20T09:10:00+05:30", "city": "Bengaluru",
                  "state": "KA", "country_name": "India", "message": "Out for delivery",
                  "tag": tag, "subtag": subtag, "subtag_message": subtag_message}
    older = {**checkpoint, "checkpoint_time": "2024-05-19T20:00:00+05:30",
             "location": "Hosur Hub", "message": "Arrival scan", "tag": "InTransit"}
    body: dict[str, Any] = {
        "event": "tracking_update", "event_id": "4e1c4b1a-6d3e-4a3f-9c43-1f8b5b3a2c10",
        "is_tracking_first_tag": True, "ts": 1716176400,
        "msg": {"id": "abc", "tracking_number": "DL7040055433", "slug": "delhivery",
                "tag": tag, "subtag": subtag, "subtag_message": subtag_message,
                "order_id": "gid-77", "order_number": "#100003",
                "expected_delivery": "2024-05-21", "checkpoints": [checkpoint, older],
                "courier_tracking_link": "https://www.delhivery.com/track/DL7040055433"},
    }
    body["msg"].update(msg)
    return body


def parse_aftership(data: Any) -> list[CarrierUpdate]:
    body = body_of(data)
    return aftership.parse({"aftership-hmac-sha256": aftership_signature(body)}, body, SECRET)


def test_aftership_update_is_parsed() -> None:
    [update] = parse_aftership(aftership_body())
    assert update == CarrierUpdate(
        provider="aftership", event_id="4e1c4b1a-6d3e-4a3f-9c43-1f8b5b3a2c10",
        order_number="100003", tracking_number="DL7040055433", carrier="delhivery",
        status=PackageStatus.OUT_FOR_DELIVERY, carrier_status="Out for Delivery",
        at=datetime(2024, 5, 20, 3, 40, tzinfo=UTC), location="Bengaluru, KA, India",
        description="Out for delivery",
        tracking_url="https://www.delhivery.com/track/DL7040055433",
        estimated_delivery=date(2024, 5, 21),
    )


def test_aftership_order_id_when_no_order_number() -> None:
    [update] = parse_aftership(aftership_body(order_number=None, order_id="100005"))
    assert update.order_number == "100005"


@pytest.mark.parametrize("tag", sorted(aftership.STATUS_BY_TAG))
def test_aftership_tag_table(tag: str) -> None:
    [update] = parse_aftership(aftership_body(tag, f"{tag}_001", None))
    assert update.status is aftership.STATUS_BY_TAG[tag]
    assert update.carrier_status == tag


@pytest.mark.parametrize("subtag", sorted(aftership.STATUS_BY_SUBTAG))
def test_aftership_subtag_table(subtag: str) -> None:
    [update] = parse_aftership(aftership_body(subtag.partition("_")[0], subtag, "words"))
    assert update.status is aftership.STATUS_BY_SUBTAG[subtag]


@pytest.mark.parametrize(("tag", "subtag", "words"), [
    ("Exception", "Exception_004", "Delayed (Customs clearance)"),
    ("Expired", "Expired_001", "No recent updates"),
    ("Pending", "Pending_001", None),
])
def test_aftership_unknown_status_is_kept_verbatim(tag: str, subtag: str,
                                                   words: str | None) -> None:
    [update] = parse_aftership(aftership_body(tag, subtag, words))
    assert update.status is None
    assert update.carrier_status == (words or tag)


def test_aftership_other_events_are_verified_and_ignored() -> None:
    assert parse_aftership({"event": "edd_revise", "msg": {}}) == []


def test_aftership_forged_unsigned_and_altered_are_refused() -> None:
    body = body_of(aftership_body())
    with pytest.raises(Forged):
        aftership.parse({}, body, SECRET)
    with pytest.raises(Forged):
        aftership.parse({"aftership-hmac-sha256": aftership_signature(body, "other")}, body,
                        SECRET)
    with pytest.raises(Forged):
        aftership.parse({"aftership-hmac-sha256": aftership_signature(body)},
                        body.replace(b"100003", b"100004"), SECRET)


@pytest.mark.parametrize(("data", "message"), [
    ({"event": "tracking_update"}, "msg"),
    (aftership_body(tag=None), "msg.tag"),
    (aftership_body(checkpoints=[{"checkpoint_time": "5 pm"}]), "ISO 8601"),
    (aftership_body(expected_delivery="tomorrow"), "expected_delivery"),
])
def test_aftership_malformed_bodies_say_why(data: Any, message: str) -> None:
    with pytest.raises(Malformed, match=message):
        parse_aftership(data)
