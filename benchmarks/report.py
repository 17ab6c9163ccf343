"""The figures: one JSON-ready dict per phase, a summary with the targets, a table."""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks.runner import Phase, percentile

BUSY = 0.9  # a process at 90 % of its core or more is what limits the rate
CORE_BUSY = 0.95  # or its core, interrupts included, is at 95 % or more
PTB_WEBHOOK_RATE = 1700  # python-telegram-bot ConversationHandler, issue 6
FAILURES = ("lost", "duplicated", "out_of_order", "wrong")


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def phase_data(phase: Phase, server_core: int | None, client_core: int | None) -> dict[str, Any]:
    tally = phase.tally
    turns = tally.turns or 1
    busy = {name: (None if spent is None else round(spent / phase.seconds, 3))
            for name, spent in (phase.busy or phase.cpu).items()}
    server_core_busy = phase.cores.get(server_core) if server_core is not None else None
    client_core_busy = phase.cores.get(client_core) if client_core is not None else None
    if (busy.get("server") or 0) >= BUSY or (server_core_busy or 0) >= CORE_BUSY:
        limited_by = "server CPU"
    elif (busy.get("client") or 0) >= BUSY or (client_core_busy or 0) >= CORE_BUSY:
        limited_by = "load generator CPU"
    elif (busy.get("redis") or 0) >= BUSY:
        limited_by = "Redis CPU"
    else:
        limited_by = "latency (no process saturated)"
    data: dict[str, Any] = {
        "channel": phase.channel,
        "kind": phase.kind,
        "connections": phase.connections,
        "seconds": round(phase.seconds, 3),
        "turns": tally.turns,
        "turns_per_s": round(phase.rate, 1),
        "latency_ms": {name: _ms(percentile(tally.latencies, q))
                       for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))},
        "cpu_us_per_turn": {name: (None if spent is None else round(spent / turns * 1e6, 1))
                            for name, spent in phase.cpu.items()},
        "cpu_busy": busy,
        "core_busy": {"server_core": None if server_core_busy is None
                      else round(server_core_busy, 3),
                      "client_core": None if client_core_busy is None
                      else round(client_core_busy, 3)},
        "limited_by": limited_by,
        "checks": {name: tally.verdicts.get(name, 0) for name in ("ok", *FAILURES)},
        "dialogues_done": tally.dialogues_done,
        "dialogues_unfinished_at_deadline": tally.unfinished,
        "pool_exhausted": tally.pool_exhausted,
        "samples": tally.samples,
    }
    if phase.offered_rate is not None:
        data["offered_turns_per_s"] = round(phase.offered_rate, 1)
        data["skipped_arrivals"] = phase.skipped_arrivals
    if phase.delivery is not None:
        data["delivery"] = phase.delivery
    if phase.redis is not None:
        data["redis"] = {
            "round_trips_per_turn": round(phase.redis.round_trips / turns, 2),
            "commands_per_turn": round(phase.redis.total_commands / turns, 2),
            "scripts_per_turn": round(phase.redis.scripts / turns, 2),
            "commands": dict(sorted(phase.redis.commands.items())),
        }
    return data


REFERENCE = "bare+redis"
"""The reference phase: the ceiling's route plus one Redis GET and one SET."""
CEILINGS = frozenset({"bare", REFERENCE})
PEER = "ptb-peer"
"""python-telegram-bot's own Application (`benchmarks.ptb_peer`): its replies are
checked and reported, but its failures are not ours."""

def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def summarise(results: dict[str, Any]) -> None:
    """Adds `summary` (ratios, costs per turn, targets) to `results`."""
    phases = results["phases"]
    many = max((p["connections"] for p in phases if p.get("kind", "closed") == "closed"),
               default=1)
    ceiling = next((p for p in phases if p["channel"] == "bare" and p["connections"] == many),
                   None)
    reference = next((p for p in phases if p["channel"] == REFERENCE
                      and p["connections"] == many), None)
    channels: dict[str, Any] = {}
    failures: Counter[str] = Counter()
    for phase in phases:
        if phase["channel"] in CEILINGS or phase["channel"] == PEER:
            continue
        for name in FAILURES:
            failures[name] += phase["checks"][name]
        entry = channels.setdefault(phase["channel"], {})
        if phase.get("kind", "closed") == "closed":
            entry["one" if phase["connections"] == 1 else "many"] = phase
        else:
            entry[phase["kind"]] = phase
    for row in results["accounting"]:
        if row["verdict"] != "ok":
            failures[row["verdict"]] += 1
    per_channel: dict[str, Any] = {}
    for name, entry in channels.items():
        loaded = entry.get("many")
        if loaded is None:
            continue
        server_us = loaded["cpu_us_per_turn"].get("server")
        ceiling_us = ceiling["cpu_us_per_turn"].get("server") if ceiling else None
        per_channel[name] = {
            "turns_per_s": loaded["turns_per_s"],
            "ratio_to_ceiling": round(loaded["turns_per_s"] / ceiling["turns_per_s"], 3)
            if ceiling and ceiling["turns_per_s"] else None,
            "cpu_ratio_to_ceiling": round(ceiling_us / server_us, 3)
            if ceiling_us and server_us else None,
            "ratio_to_reference": round(loaded["turns_per_s"] / reference["turns_per_s"], 3)
            if reference and reference["turns_per_s"] else None,
            "server_cpu_us_per_turn": server_us,
            "p99_ms_one": entry.get("one", {}).get("latency_ms", {}).get("p99"),
            "p99_ms_many": loaded["latency_ms"]["p99"],
            "limited_by": loaded["limited_by"],
        }
        ordinary = entry.get("ordinary")
        if ordinary is not None:
            per_channel[name] |= {
                "ordinary_turns_per_s": ordinary["turns_per_s"],
                "ordinary_ratio_to_reference":
                    round(ordinary["turns_per_s"] / reference["turns_per_s"], 3)
                    if reference and reference["turns_per_s"] else None,
                "ordinary_server_cpu_us_per_turn": ordinary["cpu_us_per_turn"].get("server"),
                "ordinary_p99_ms": ordinary["latency_ms"]["p99"],
            }
        if "delivery" in loaded:
            per_channel[name]["delivery"] = loaded["delivery"]
    ordinary = [r for r in results["accounting"] if r["ordinary"]]
    rows = results["accounting"]
    accounting = {
        "ordinary_turns": len(ordinary),
        "ordinary_round_trips_max": max((r["round_trips"] for r in ordinary), default=None),
        "ordinary_round_trips_mean": _mean([r["round_trips"] for r in ordinary]),
        "ordinary_sent_commands_mean": _mean([r["sent_commands"] for r in ordinary]),
        "ordinary_scripts_mean": _mean([r["scripts"] for r in ordinary]),
        "ordinary_inner_commands_mean": _mean([r["inner_commands"] for r in ordinary]),
        "all_round_trips_mean": _mean([r["round_trips"] for r in rows]),
        "all_round_trips_max": max((r["round_trips"] for r in rows), default=None),
    }
    open_loop = {name: _open_loop(entry) for name, entry in channels.items()
                 if "open" in entry or "open-fixed" in entry}
    peer_phase = next((p for p in phases if p["channel"] == PEER), None)
    peer = _peer(peer_phase) if peer_phase is not None else None
    ours_delivered = (per_channel.get("telegram", {}).get("delivery") or {}).get(
        "updates_per_s_all_delivered")
    telegram_ratio_to_peer = (
        round(ours_delivered / peer["updates_per_s_all_delivered"], 3)
        if peer and ours_delivered and peer["updates_per_s_all_delivered"] else None)
    memory = results["memory"]
    web = per_channel.get("web", {})
    telegram = per_channel.get("telegram")
    web_open = open_loop.get("web", {})
    whatsapp_open = open_loop.get("whatsapp", {})
    telegram_open = open_loop.get("telegram", {})
    targets = [
        _target("web chat ordinary turns vs the reference route", ">= 1.0",
                web.get("ordinary_ratio_to_reference"),
                _at_least(web.get("ordinary_ratio_to_reference"), 1.0)),
        _target("web chat whole dialogues vs the reference route", ">= 0.6",
                web.get("ratio_to_reference"), _at_least(web.get("ratio_to_reference"), 0.6)),
        _target("open-loop p99 at 50 % of capacity, web chat (ms)", "< 25",
                web_open.get("p99_ms"), _below(web_open.get("p99_ms"), 25)),
        _target("open-loop p99 at 50 % of capacity, WhatsApp (ms)", "< 25",
                whatsapp_open.get("p99_ms"), _below(whatsapp_open.get("p99_ms"), 25)),
        _target("Telegram updates/s, every reply delivered, vs the PTB peer", ">= 1.5",
                telegram_ratio_to_peer, _at_least(telegram_ratio_to_peer, 1.5)),
        _target("Telegram open-loop delivery lag p99 at 50 % of capacity (ms)", "< 2000",
                telegram_open.get("lag_p99_ms"), _below(telegram_open.get("lag_p99_ms"), 2000)),
        *(_target(f"Telegram open-loop delivery lag p99 at {f['rate_per_s']:,.0f}/s (ms)",
                  "< 2000", f.get("lag_p99_ms"), _below(f.get("lag_p99_ms"), 2000))
          for f in [telegram_open.get("fixed")] if f),
        _target("no reply lost, duplicated or out of order", "0",
                sum(failures.values()), sum(failures.values()) == 0),
        _target("Redis round trips per ordinary turn", "<= 2",
                accounting["ordinary_round_trips_max"],
                accounting["ordinary_round_trips_max"] is not None
                and accounting["ordinary_round_trips_max"] <= 2),
        _target("(issue 6) web chat turns/s vs bare ceiling", ">= 0.25",
                web.get("ratio_to_ceiling"),
                web.get("ratio_to_ceiling") is not None and web["ratio_to_ceiling"] >= 0.25),
        _target("(issue 6) Telegram updates/s", f">= {2 * PTB_WEBHOOK_RATE}",
                telegram["turns_per_s"] if telegram else "skipped",
                telegram["turns_per_s"] >= 2 * PTB_WEBHOOK_RATE if telegram else None),
        *(_target(f"(issue 6) p99 at {many} connections, {name} (ms)", "< 30", c["p99_ms_many"],
                  c["p99_ms_many"] is not None and c["p99_ms_many"] < 30)
          for name, c in per_channel.items()),
        _target("Redis bytes per idle conversation", "<= 2048",
                round(memory["per_conversation_total_bytes"]),
                memory["per_conversation_total_bytes"] <= 2048),
        _target("conversation keys without a TTL", "0", memory["conversation_keys_without_ttl"],
                memory["conversation_keys_without_ttl"] == 0),
    ]
    results["summary"] = {
        "ceiling_requests_per_s": ceiling["turns_per_s"] if ceiling else None,
        "ceiling_server_cpu_us_per_request": ceiling["cpu_us_per_turn"].get("server")
        if ceiling else None,
        "reference_requests_per_s": reference["turns_per_s"] if reference else None,
        "reference_server_cpu_us_per_request": reference["cpu_us_per_turn"].get("server")
        if reference else None,
        "reference_ratio_to_ceiling": round(reference["turns_per_s"] / ceiling["turns_per_s"], 3)
        if reference and ceiling and ceiling["turns_per_s"] else None,
        "channels": per_channel,
        "open_loop": open_loop,
        "peer": peer,
        "telegram_ratio_to_peer": telegram_ratio_to_peer,
        "replies": dict(failures),
        "replies_wrong": sum(failures.values()),
        "accounting": accounting,
        "targets": targets,
    }


def _open_loop(entry: dict[str, Any]) -> dict[str, Any]:
    """`open_loop.<channel>`: the phase at 50 % of the web capacity at the top
    (`p99_ms`, and for Telegram `lag_p99_ms`), the fixed-rate phase under `fixed`."""

    def figures(phase: dict[str, Any]) -> dict[str, Any]:
        lag = (phase.get("delivery") or {}).get("lag_ms", {})
        data = {
            "rate_per_s": phase["offered_turns_per_s"],
            "achieved_per_s": phase["turns_per_s"],
            "p50_ms": phase["latency_ms"]["p50"],
            "p99_ms": phase["latency_ms"]["p99"],
            "skipped_arrivals": phase["skipped_arrivals"],
            "connections_opened": phase["connections"],
            "server_cpu_us_per_turn": phase["cpu_us_per_turn"].get("server"),
            "limited_by": phase["limited_by"],
        }
        if lag:
            data["lag_p50_ms"] = lag.get("p50")
            data["lag_p99_ms"] = lag.get("p99")
        return data

    out = figures(entry["open"]) if "open" in entry else {}
    if "open-fixed" in entry:
        out["fixed"] = figures(entry["open-fixed"])
    return out


def _peer(phase: dict[str, Any]) -> dict[str, Any]:
    delivery = phase.get("delivery") or {}
    return {
        "webhook_updates_per_s": phase["turns_per_s"],
        "updates_per_s_all_delivered": delivery.get("updates_per_s_all_delivered"),
        "server_cpu_us_per_update": phase["cpu_us_per_turn"].get("server"),
        "p99_ms": phase["latency_ms"]["p99"],
        "lag_ms": delivery.get("lag_ms"),
        "last_message_after_window_s": delivery.get("last_message_after_window_s"),
        "checks": phase["checks"],
    }


def _at_least(value: float | None, wanted: float) -> bool | None:
    return None if value is None else value >= wanted


def _below(value: float | None, wanted: float) -> bool | None:
    return None if value is None else value < wanted


def _target(name: str, wanted: str, measured: Any, met: bool | None) -> dict[str, Any]:
    return {"target": name, "wanted": wanted, "measured": measured,
            "met": "skipped" if met is None else ("yes" if met else "NO")}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def table(results: dict[str, Any]) -> str:
    head = ("channel", "conns", "turns/s", "p50 ms", "p90 ms", "p99 ms", "srv µs/turn",
            "srv busy", "srv core", "client busy", "redis busy", "client core", "RT/turn",
            "cmds/turn", "lost/dup/ooo/wrong", "limited by")
    rows = [head]
    for p in results["phases"]:
        redis = p.get("redis", {})
        checks = p["checks"]
        label = p["channel"]
        kind = p.get("kind", "closed")
        if kind == "ordinary":
            label += " (ordinary)"
        elif kind.startswith("open"):
            label += f" (open {p['offered_turns_per_s']:,.0f}/s)"
        rows.append((
            label, str(p["connections"]), _cell(p["turns_per_s"]),
            _cell(p["latency_ms"]["p50"]), _cell(p["latency_ms"]["p90"]),
            _cell(p["latency_ms"]["p99"]), _cell(p["cpu_us_per_turn"]["server"]),
            _pct(p["cpu_busy"]["server"]), _pct(p["core_busy"]["server_core"]),
            _pct(p["cpu_busy"]["client"]), _pct(p["cpu_busy"]["redis"]),
            _pct(p["core_busy"]["client_core"]),
            _cell(redis.get("round_trips_per_turn")) if p["channel"] != "bare" else "-",
            _cell(redis.get("commands_per_turn")) if p["channel"] != "bare" else "-",
            "/".join(str(checks[n]) for n in FAILURES) if p["channel"] not in CEILINGS else "-",
            p["limited_by"],
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths,
             strict=True))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    summary = results["summary"]
    machine = results["machine"]
    out = [
        f"mode {results['mode']}: {machine['cores']} cores ({machine['cpu']}), Python "
        f"{machine['versions']['python']}, uvicorn {machine['versions']['uvicorn']}, redis-py "
        f"{machine['versions']['redis']}, Valkey {machine['valkey_version']}; server on core "
        f"{machine['server_core']}, client and Redis on core {machine['client_core']}",
        "",
        *lines,
        "",
        f"ceiling: {_cell(summary['ceiling_requests_per_s'])} requests/s, "
        f"{_cell(summary['ceiling_server_cpu_us_per_request'])} µs server CPU per request",
    ]
    if summary.get("reference_requests_per_s") is not None:
        out.append(
            f"reference (the same route + one Redis GET and one SET): "
            f"{_cell(summary['reference_requests_per_s'])} requests/s = "
            f"{_cell(summary['reference_ratio_to_ceiling'])} of the ceiling, "
            f"{_cell(summary['reference_server_cpu_us_per_request'])} µs server CPU per request"
        )
    for name, c in summary["channels"].items():
        out.append(
            f"{name}: {_cell(c['turns_per_s'])} turns/s = {_cell(c['ratio_to_ceiling'])} of the "
            f"ceiling by rate, {_cell(c['cpu_ratio_to_ceiling'])} by server CPU per request, "
            f"{_cell(c.get('ratio_to_reference'))} of the reference; "
            f"p99 {_cell(c['p99_ms_one'])} ms at 1 connection, {_cell(c['p99_ms_many'])} ms "
            f"loaded ({c['limited_by']})"
        )
        if "delivery" in c:
            d = c["delivery"]
            out.append(
                f"{name} outbound (through the outbox to the fake API, loaded phase): "
                f"{_cell(d['messages_per_s_in_window'])} messages/s delivered during the window, "
                f"{d['messages']} in all, the last {_cell(d['last_message_after_window_s'])} s "
                f"after it; lag from webhook answer to the step's last message p50 "
                f"{_cell(d['lag_ms']['p50'])} ms, p99 {_cell(d['lag_ms']['p99'])} ms, max "
                f"{_cell(d['lag_ms']['max'])} ms; µs/turn includes delivering"
            )
    for name, c in summary["channels"].items():
        if "ordinary_turns_per_s" in c:
            out.append(
                f"{name} ordinary turns only: {_cell(c['ordinary_turns_per_s'])} turns/s = "
                f"{_cell(c['ordinary_ratio_to_reference'])} of the reference, "
                f"{_cell(c['ordinary_server_cpu_us_per_turn'])} µs server CPU per turn")
    for name, o in summary.get("open_loop", {}).items():
        rates: list[tuple[str, dict[str, Any] | None]] = [("50 % of capacity", o),
                                                          ("fixed", o.get("fixed"))]
        for label, f in rates:
            if not f or "rate_per_s" not in f:
                continue
            lag = (f"; delivery lag from the due time p50 {_cell(f.get('lag_p50_ms'))} ms, "
                   f"p99 {_cell(f.get('lag_p99_ms'))} ms" if "lag_p99_ms" in f else "")
            out.append(
                f"{name} open loop ({label}) at {_cell(f['rate_per_s'])}/s: latency from the "
                f"due time p50 {_cell(f['p50_ms'])} ms, p99 {_cell(f['p99_ms'])} ms, "
                f"{f['connections_opened']} connections, {f['skipped_arrivals']} arrivals "
                f"skipped{lag}")
    peer = summary.get("peer")
    if peer:
        peer_lag = peer.get("lag_ms") or {}
        out.append(
            f"python-telegram-bot peer: webhook {_cell(peer['webhook_updates_per_s'])} "
            f"updates/s, {_cell(peer['updates_per_s_all_delivered'])} updates/s with every "
            f"reply delivered (the last {_cell(peer['last_message_after_window_s'])} s after "
            f"the window; lag p99 {_cell(peer_lag.get('p99'))} ms); "
            f"{_cell(peer['server_cpu_us_per_update'])} µs server CPU per update; checks "
            f"{'/'.join(str(peer['checks'][n]) for n in FAILURES)} lost/dup/ooo/wrong; "
            f"ours to the peer (every reply delivered): {_cell(summary['telegram_ratio_to_peer'])}")
    acc = summary["accounting"]
    out.append(
        f"Redis per ordinary turn (one turn at a time): {_cell(acc['ordinary_round_trips_mean'])}"
        f" round trips (max {acc['ordinary_round_trips_max']}), "
        f"{_cell(acc['ordinary_scripts_mean'])} script calls, "
        f"{_cell(acc['ordinary_sent_commands_mean'])} commands sent, "
        f"{_cell(acc['ordinary_inner_commands_mean'])} run inside scripts; all turns "
        f"{_cell(acc['all_round_trips_mean'])} round trips (max {acc['all_round_trips_max']})"
    )
    memory = results["memory"]
    parts = ", ".join(f"{name} {value:,.0f}" for name, value in
                      memory["per_conversation_bytes"].items())
    delta = memory.get("used_memory_delta_per_new_conversation")
    out.append(
        f"Redis memory per idle conversation: {memory['per_conversation_total_bytes']:,.0f} B "
        f"({parts}) over {memory['conversations']} conversations; used_memory delta "
        f"{_cell(delta)} B per new conversation (tickets and shop changes included)"
    )
    for name, reason in results["skipped"].items():
        out.append(f"skipped {name}: {reason}")
    for note in results["notes"]:
        out.append(f"note: {note}")
    out.append("")
    out.append("targets:")
    for t in summary["targets"]:
        out.append(f"  [{t['met']:>7}] {t['target']}: {t['measured']} (wanted {t['wanted']})")
    return "\n".join(out)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"
