"""The monthly report as a picture: per currency, what was declined against what came back and how,
and what is still open. A PNG drawn with matplotlib (no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to memory, never to a screen

import matplotlib.pyplot as plt

from bot.domain.money import to_decimal_str
from bot.read.report import HOW, MonthReport

COLOURS = {
    "declined": "#b0b7c3",
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
    currencies = [c for c in report.currencies if c.declined_minor or c.recovered_minor][:MAX_PANELS]
    fig, axes = plt.subplots(1, max(1, len(currencies)), figsize=(4.8 * max(1, len(currencies)), 3.8), squeeze=False)
    for ax, c in zip(axes[0], currencies, strict=False):

        def amount(minor: int, currency: str = c.currency) -> float:
            return float(to_decimal_str(minor, currency))

        ax.bar(["Declined"], [amount(c.declined_minor)], color=COLOURS["declined"])
        bottom = 0.0
        for how in HOW:
            value = amount(c.recovered_by[how])
            ax.bar(["Recovered"], [value], bottom=[bottom], color=COLOURS[how], label=how)
            bottom += value
        ax.bar(["Still open"], [amount(c.open_minor)], color=COLOURS["open"])
        ended = (
            ("paid another way", c.another_way_minor),
            ("voided", c.voided_minor),
            ("written off", c.written_off_minor),
        )
        if any(minor for _name, minor in ended):  # ended without a card (another way, voided, written off)
            bottom = 0.0
            for name, minor in ended:
                ax.bar(["Ended"], [amount(minor)], bottom=[bottom], color=COLOURS[name], label=name)
                bottom += amount(minor)
        ax.set_title(f"{c.currency}: {c.money(c.recovered_minor)} recovered", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=9)
        ax.set_ylabel(c.currency, fontsize=9)
    if not currencies:
        axes[0][0].text(0.5, 0.5, "No declines this month", ha="center", va="center")
        axes[0][0].axis("off")
    else:
        axes[0][0].legend(fontsize=8, frameon=False, loc="upper right")
    fig.suptitle(f"Settle · recovered revenue · {report.month}", fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()
