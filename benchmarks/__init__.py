"""The benchmark behind `python -m app bench`: how fast a bot turn is, what it costs,
and how it compares with the framework's ceiling, measured in one run.

    cli        the command: phases, the table, the JSON file
    serve      starts one uvicorn worker (uvloop, httptools) pinned to one core
    bare       the ceiling: a Starlette route that only parses the body and answers 200
    shop       the demo shop scaled to thousands of shoppers
    dialogues  what each shopper says and the reply keys each step must get
    drivers    one driver per channel: request in, reply keys out
    client     a small keep-alive HTTP/1.1 client, cheap enough not to be the bottleneck
    probes     what the run reads off the machine: /proc CPU times, Redis INFO
    fakes      the providers' outbound APIs (Telegram Bot API, Twilio REST), answered locally

It is a development tool: nothing in `app/`, `channels/`, `conversation/` or
`orders/` imports it.
"""
