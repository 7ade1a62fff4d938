"""API models of the transparency report."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vigil.analytics.transparency.service import TransparencyReport


class FigureOut(BaseModel):
    figure: str
    breakdown: str = Field(description='"" for a total, else "key=value[, key=value]".')
    value: int | float | None = Field(description="null: not recorded (see the note).")
    note: str = ""


class SectionOut(BaseModel):
    key: str
    title: str
    article: str
    explanation: str
    figures: list[FigureOut]


class TransparencyOut(BaseModel):
    start: datetime
    end: datetime = Field(description="Exclusive.")
    generated_at: datetime
    sections: list[SectionOut]

    @classmethod
    def of(cls, report: TransparencyReport) -> TransparencyOut:
        return cls(
            start=report.start,
            end=report.end,
            generated_at=report.generated_at,
            sections=[
                SectionOut(
                    key=s.key,
                    title=s.title,
                    article=s.article,
                    explanation=s.explanation,
                    figures=[
                        FigureOut(
                            figure=f.figure, breakdown=f.breakdown, value=f.value, note=f.note
                        )
                        for f in s.figures
                    ],
                )
                for s in report.sections
            ],
        )
