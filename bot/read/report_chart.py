"""The monthly report as a picture: per currency, what was declined against what came back and how,
and what is still open. A PNG drawn with matplotlib (no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to memory, never to a screen

import matplotlib.pyplot as plt

from bot.domain.money import to_decimal_str
from bot.read.report import FORMULA, PATHS, MonthReport

COLOURS = {
    "declined": "#b0b7c3",
    "provider retry": "#9aa9bd",
    "customer page": "#2f6f8f",
    "scheduled retry": "#6aa84f",
    "saved card": "#1d4f3a",
    "new card": "#3f8f6b",
    "after bank verification": "#8fc9a8",
    "open": "#d9822b",
    "paid another way": "#5b7db1",
    "voided": "#b9a5d6",
    "written off": "#7a4a4a",
}
MAX_PANELS = 4


def chart_png(report: MonthReport) -> bytes:
    currencies = [c for c in report.currencies if c.declined_minor or c.recovered_all_minor][:MAX_PANELS]
    fig, axes = plt.subplots(1, max(1, len(currencies)), figsize=(4.8 * max(1, len(currencies)), 3.8), squeeze=False)
    for ax, c in zip(axes[0], currencies, strict=False):

        def amount(minor: int, currency: str = c.currency) -> float:
            return float(to_decimal_str(minor, currency))

        ax.bar(["Declined"], [amount(c.declined_minor)], color=COLOURS["declined"])
        bottom = 0.0
        for path in PATHS:  # every way it came back, stacked: the bar is the recovered total
            value = amount(c.paths[path].minor)
            if value:
                ax.bar(["Recovered"], [value], bottom=[bottom], color=COLOURS[path], label=path)
            bottom += value
        ax.bar(["Still open"], [amount(c.open_minor)], color=COLOURS["open"])
        ended = (("voided", c.voided_minor), ("written off", c.written_off_minor))
        if any(minor for _name, minor in ended):  # ended and not recovered
            bottom = 0.0
            for name, minor in ended:
                ax.bar(["Ended"], [amount(minor)], bottom=[bottom], color=COLOURS[name], label=name)
                bottom += amount(minor)
        rate = f" ({c.recovery_rate:g}%)" if c.recovery_rate is not None else ""
        ax.set_title(f"{c.currency}: {c.money(c.recovered_all_minor)} recovered{rate}", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=9)
        ax.set_ylabel(c.currency, fontsize=9)
    if not currencies:
        axes[0][0].text(0.5, 0.5, "No declines this month", ha="center", va="center")
        axes[0][0].axis("off")
    elif axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=8, frameon=False, loc="upper right")
    fig.suptitle(f"Settle · recovered revenue · {report.month}", fontsize=11)
    fig.text(0.5, 0.01, FORMULA, ha="center", fontsize=7, color="#616061")
    fig.tight_layout(rect=(0, 0.04, 1, 1))  # room for the formula
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()
