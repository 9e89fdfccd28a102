"""The report's first screen: one row per claim of the paper, one column per level of evidence (theory,
simulations, the CPU language model, real scale), each cell the verdict of the findings that test the claim at
that level with the effect and its interval, all read from findings.json (nothing recomputed here).

CLAIMS maps each claim to glob patterns of finding ids per level. A cell with one to four findings lists each
(verdict, effect [interval], which run); a cell with more (the simulation grid) counts its verdicts; an empty cell
says that level does not test the claim; a pattern that matches nothing says "not computed"."""

from __future__ import annotations

import html
from fnmatch import fnmatchcase

from .findings.render import effect_text

LEVELS = ("theory", "simulations", "CPU LM", "real scale")
CLAIMS = (
    ("Weight decay raises the loss of rare (low-frequency) tokens.",
     {"theory": ("theory_loss_increases_with_lambda",), "CPU LM": ("lm_train_low_freq_loss_rises",),
      "real scale": ("rs_*_train_low_freq_loss_rises",)}),
    ("Rare tokens are hurt more than the rest (low-frequency loss rises more than high-frequency / average).",
     {"theory": ("theory_rare_classes_more_sensitive",), "simulations": ("sim_*_low_rises_more*",),
      "CPU LM": ("lm_train_low_rises_more_than_average",), "real scale": ("rs_*_train_low_rises_more_than_average",)}),
    ("The average loss barely moves; the class-balanced loss rises more (Table 1: ~5.7 times).",
     {"theory": ("theory_balanced_moves_more",), "CPU LM": ("lm_train_balanced_loss_rises",),
      "real scale": ("rs_*_train_balanced_rises_more_than_average",)}),
    ("Rare tokens are most of the vocabulary (Zipf).",
     {"simulations": ("languages_rare_words_are_most_of_the_vocabulary",),
      "CPU LM": ("bpe_rare_tokens_are_most_of_the_vocabulary",)}),
    ("Proposition: at the UFM minimiser rarer classes have higher loss (closed form for d >= V).",
     {"theory": ("theory_proposition_as_stated", "theory_loss_decreases_with_count", "theory_d_at_least_V_in_paper_models")}),
    ("Rare tokens are learnt more slowly.", {"CPU LM": ("lm_rare_tokens_learn_slower",)}),
    ("(Ours) A decay that spares rare tokens removes the penalty and keeps the held-out effect.",
     {"theory": ("theory_bounded_schedule_tradeoff",), "simulations": ("sim_mitigation_*",),
      "CPU LM": ("lm_mitigation_*",), "real scale": ("rs_*_mitigation_*",)}),
)
KIND = {"resolved": "ok", "contradicts the paper": "bad", "not resolved": "open"}


def _matches(findings: list[dict], patterns: tuple) -> list[dict]:
    return [f for f in findings if any(fnmatchcase(f["id"], p) for p in patterns)]


def _label(f: dict) -> str:
    """Which run a finding is about, in a few words (the regime, mode or model)."""
    if "source" in f:
        name = f["source"].rsplit("_", 1)[-1]
        return f"{name}, {f['mode']}" if "mode" in f else name
    return f.get("mode") or f.get("scheme") or f["id"].removeprefix("theory_").removeprefix("lm_")


def cells(data: dict) -> list[tuple[str, dict]]:
    """[(claim, {level: [(kind, text), ...]})]; kind is ok / bad / open / mit / none."""
    out = []
    for claim, levels in CLAIMS:
        row = {}
        for level in LEVELS:
            patterns = levels.get(level)
            if not patterns:
                row[level] = [("none", "—")]
                continue
            found = _matches(data["findings"], patterns)
            if not found:
                row[level] = [("none", "not computed")]
            elif len(found) > 4:
                counts = {}
                for f in found:
                    counts[f["verdict"]] = counts.get(f["verdict"], 0) + 1
                row[level] = [(KIND.get(v, "mit"), f"{n} × {v}") for v, n in sorted(counts.items(), key=lambda x: -x[1])]
                row[level].append(("none", f"of {len(found)} ({patterns[0]})"))
            else:
                row[level] = [(KIND.get(f["verdict"], "mit"), f"{f['verdict']}: {effect_text(f, short=True)}"
                               + (f" — {_label(f)}" if len(found) > 1 or "source" in f else "")) for f in found]
        out.append((claim, row))
    return out


def markdown(data: dict) -> str:
    lines = ["| claim of the paper | " + " | ".join(LEVELS) + " |", "|---|" + "---|" * len(LEVELS)]
    for claim, row in cells(data):
        lines.append(f"| {claim} | " + " | ".join("<br>".join(t.replace("|", "\\|") for _, t in row[lv])
                                                  for lv in LEVELS) + " |")
    return "\n".join(lines)


def to_html(data: dict) -> str:
    head = "".join(f"<th>{html.escape(lv)}</th>" for lv in LEVELS)
    body = []
    for claim, row in cells(data):
        tds = "".join("<td>" + "".join(f"<div class='v {k}'>{html.escape(t)}</div>" for k, t in row[lv]) + "</td>"
                      for lv in LEVELS)
        body.append(f"<tr><th class='claim'>{html.escape(claim)}</th>{tds}</tr>")
    return (f"<div class='scroll'><table class='score'><tr><th>claim of the paper</th>{head}</tr>{''.join(body)}"
            "</table></div>")


STYLE = (".score td,.score th{min-width:10em}.score th.claim{text-align:left;font-weight:normal;min-width:9em}"
         ".v{margin:.15em 0;padding:.1em .3em;border-radius:3px;font-size:85%}.ok{background:#dff3df}"
         ".bad{background:#f8dcdc}.open{background:#eee}.mit{background:#e0e8f8}.none{color:#888}")
