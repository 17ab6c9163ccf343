"""axe-core in a Playwright page: the WCAG 2.1 A and AA rules, run where the page is.

    violations = await audit(page)
    assert violations == [], explain(violations)

The vendored `tests/vendor/axe-core/axe.min.js` (MPL-2.0, see its README) is put into
the page with `page.evaluate`, which runs in the page's own world through the DevTools
protocol: the pages' Content Security Policy (nonce scripts only) does not apply to it,
and it is not relaxed for the test. (axe adds a <style> of its own while it runs,
which that policy refuses with a console error: read a page's console errors before
auditing it.) axe looks into open shadow roots, so the chat widget is audited with
the shop page around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                          resultTypes: ["violations", "incomplete"]});
  const brief = (rule) => ({
    id: rule.id, impact: rule.impact, help: rule.help,
    nodes: rule.nodes.map((n) => ({target: n.target, summary: n.failureSummary || "",
                                   html: n.html.slice(0, 160)})),
  });
  return {violations: result.violations.map(brief), incomplete: result.incomplete.map(brief)};
}"""


async def results(page: Any) -> dict[str, list[dict[str, Any]]]:
    """axe's violations and its "needs review" (incomplete) results for the page as it is
    now, at WCAG 2.1 A and AA."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    found: dict[str, list[dict[str, Any]]] = await page.evaluate(_RUN, list(WCAG_21_AA))
    return found


async def audit(page: Any) -> list[dict[str, Any]]:
    """axe's WCAG 2.1 A/AA violations for the page as it is now; [] when none."""
    return (await results(page))["violations"]


def explain(rules: list[dict[str, Any]]) -> str:
    """One readable paragraph per rule: what, how bad, and where."""
    lines = []
    for rule in rules:
        lines.append(f"{rule['id']} ({rule['impact']}): {rule['help']}")
        for node in rule["nodes"][:5]:
            lines.append(f"  at {node['target']}: {node['summary']}".replace("\n", " "))
    return "\n".join(lines)
