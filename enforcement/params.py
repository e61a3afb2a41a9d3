"""The law's parameters: every cut-off date, amount and disputed reading in one place.

Defaults are the best current reading of the rules spec (§2). Disputed values are
switchable here rather than hidden in code: `van_e6_last_day` (announced extension vs the
RVV 2023 text), `transition_date_field` (DET vs first Dutch registration, R11) and
`wheelchair_codes` (whether code 70 counts, R18). Every parameter of the spec's §2 table
has the table's name in lower case (`READ_CONFIDENCE_MIN` -> `read_confidence_min`), which is
also its key in a law file's `[params]` (TOML).
"""

from __future__ import annotations

import enum
from datetime import date

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class TransitionDateField(enum.StrEnum):
    """Which register date the transitional rules compare (R11)."""

    DET = "DET"
    """`datum_eerste_toelating`: first admission anywhere (default, most sources)."""
    FIRST_NL_REGISTRATION = "FIRST_NL_REGISTRATION"
    """`datum_eerste_tenaamstelling_in_nederland`: when the vehicle came to the Netherlands."""


class FineAmounts(BaseModel):
    """Wahv amounts for a ZE-zone offence from a date on (R37)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    valid_from: date = Field(description="First day these amounts apply.")
    van_eur: int = Field(description="Fine for a van (bestelauto).")
    truck_eur: int = Field(description="Fine for a truck (vrachtauto), rigid or tractor.")
    admin_costs_eur: int = Field(description="Administration costs added by CJIB.")


class LawParams(BaseModel):
    """Parameters of the ZE-zone law. Frozen: a decision never depends on mutable state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    new_vehicle_cutoff_det: date = Field(
        date(2025, 1, 1),
        description="R10: vehicles first admitted on or after this date get no transitional "
        "access.",
    )
    van_e5_last_day: date = Field(
        date(2026, 12, 31), description="R8: last day Euro 5 vans are allowed (Stb. 2023, 241)."
    )
    van_e6_last_day: date = Field(
        date(2028, 12, 31),
        description="R9: last day Euro 6 vans are allowed. 2028-12-31 is the announced "
        "extension; the RVV 2023 text says 2027-12-31 (disputed, switchable).",
    )
    truck_last_day: date = Field(
        date(2029, 12, 31), description="R12/R13: last day of transitional truck access."
    )
    tractor_det_from: date = Field(
        date(2017, 1, 1), description="R12: tractors need a DET on or after this date."
    )
    rigid_det_from: date = Field(
        date(2020, 1, 1), description="R13: rigid trucks need a DET on or after this date."
    )
    rigid_2017_det_from: date = Field(
        date(2017, 1, 1), description="R14: start of the rigid-truck national ontheffing window."
    )
    rigid_2017_2019_last_day: date = Field(
        date(2027, 12, 31),
        description="R14: last day of the automatic ontheffing for rigid trucks first "
        "admitted 2017-2019.",
    )
    vrijstelling_last_day: date = Field(
        date(2029, 12, 31),
        description="R17-R19, R23, R29: last day of the automatic vrijstellingen and of "
        "ontheffingen the law caps at 2029.",
    )
    end_state_from: date = Field(
        date(2030, 1, 1), description="R16: from this date only zero-emission vehicles."
    )
    van_max_mass_kg: int = Field(
        3500,
        gt=0,
        description="R4 (RVV 86c bedrijfsauto): a Bedrijfsauto with a permitted maximum mass "
        "up to and including this is a van; heavier is a truck.",
    )
    van_eu_categories: frozenset[str] = Field(
        frozenset({"N1"}),
        description="R4 cross-check: EU categories of a van. A van by mass with a truck "
        "category (or the reverse) is contradictory register data: never fined automatically.",
    )
    truck_eu_categories: frozenset[str] = Field(
        frozenset({"N2", "N3"}), description="R4 cross-check: EU categories of a truck."
    )
    oldtimer_years: int = Field(40, description="R17: age in years from DET for an oldtimer.")
    special_body_max_age_years: int = Field(
        13, description="R19/R23: special bodies are exempt while younger than this."
    )
    special_body_codes: frozenset[str] = Field(
        frozenset({"15", "16", "19", "23", "26", "27", "31"}),
        description="R19: carrosseriecodes with a vrijstelling (trucks only).",
    )
    special_body_type_codes: frozenset[str] = Field(
        frozenset({"SB", "SF"}),
        description="R19: special-purpose body types with a vrijstelling (trucks only).",
    )
    wheelchair_codes: frozenset[int] = Field(
        frozenset({145, 146, 147, 149, 70}),
        description="R18: bijzonderheidscodes of wheelchair-accessible vehicles. 70 is listed "
        "by opwegnaarzes/BOVAG but not in the RVV text (disputed, switchable).",
    )
    wheelchair_body_type_codes: frozenset[str] = Field(
        frozenset({"SH"}), description="R18: special-purpose code for wheelchair access."
    )
    exceptional_transport_min_axles: int = Field(
        4,
        description="R23: a tractor with at least this many axles gets the automatic "
        "exceptional-transport ontheffing (Eindhoven 2025 says 3; disputed).",
    )
    automatic_special_vehicle_ontheffing: bool = Field(
        True,
        description="R23: kermis/circus trucks and exceptional-transport tractors hold the "
        "RVO's automatic ontheffing without a record in the exemption register.",
    )
    transition_date_field: TransitionDateField = Field(
        TransitionDateField.DET, description="R11: which register date the transition tests use."
    )
    day_permit_max_per_year: int = Field(
        12, description="R22: day permits per vehicle, per municipality, per calendar year."
    )
    day_permit_tail_hours: int = Field(
        6,
        ge=0,
        le=23,
        description="R22: a day permit for day D runs until this hour on D+1 (also when the "
        "register records the permit by its day only).",
    )
    warning_period_min_months: int = Field(
        6, description="R32: minimum warning period after a zone starts."
    )
    read_confidence_min: float = Field(
        0.90,
        ge=0.0,
        le=1.0,
        validation_alias=AliasChoices("read_confidence_min", "min_read_confidence"),
        description="READ_CONFIDENCE_MIN (R33, A10): below this plate-read confidence no "
        "automatic decision is made. 0.90 is a policy choice; no public value was found. "
        "Law files written before A10 may still call it `min_read_confidence`.",
    )
    fines: tuple[FineAmounts, ...] = Field(
        (FineAmounts(valid_from=date(2025, 1, 1), van_eur=120, truck_eur=310, admin_costs_eur=9),),
        description="R37: fine amounts by period. 2026 indexation (about 3-4%) is not "
        "verified; add an entry when the Wahv table is published.",
    )
    capped_ontheffing_types: frozenset[str] = Field(
        frozenset(
            {
                "bijzonder-voertuig-kermis",
                "bijzonder-voertuig-verhuisauto",
                "bijzonder-voertuig-kraan",
                "bijzonder-voertuig-exceptioneel",
                "phev-vrachtauto",
            }
        ),
        description="R23/R29: ontheffing types the law ends on `vrijstelling_last_day`.",
    )

    nationwide_ontheffing_rules: frozenset[str] = Field(
        frozenset({"R14", "R23", "R25", "R26"}),
        description="R21 (A8): the rules whose ontheffing may carry a nationwide scope (`NL`, "
        "`NL(RVO)`): the national schemes R14 and R23, and R25/R26 (see "
        "`nationwide_dated_from`). A nationwide scope on any other type (a day permit, a "
        "local R31 ontheffing) is a malformed record: undetermined, never a fine.",
    )
    nationwide_dated_rules: frozenset[str] = Field(
        frozenset({"R25", "R26"}),
        description="R21 (A7): rules whose ontheffing is nationwide only when it starts on or "
        "after `nationwide_dated_from`; an earlier permit stays municipal.",
    )
    nationwide_dated_from: date = Field(
        date(2026, 1, 1),
        description="R21 (A7): first day of the nationwide R25/R26 permits. A 2025 permit "
        "stays municipal (its renewal from 2026 is a new record with scope NL).",
    )

    @property
    def min_read_confidence(self) -> float:
        """The read-confidence floor under its name before A10 (`read_confidence_min`)."""
        return self.read_confidence_min

    def fine_for(self, on: date) -> FineAmounts | None:
        """The amounts in force on `on` (the latest entry that has started)."""
        current = [f for f in self.fines if f.valid_from <= on]
        return max(current, key=lambda f: f.valid_from) if current else None
