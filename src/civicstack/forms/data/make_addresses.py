"""Generate ``addresses.csv``: fictional addresses for the demo postcode lookup.

Deterministic (fixed seed, fixed lists), so running it again gives the same file::

    .venv/bin/python src/civicstack/forms/data/make_addresses.py

The three places are the fictional council areas of the demo catalogue: Kingsbridge,
Aberhafren and Northmoor. Postcodes have the UK format but use made-up areas (KB, AH, NM);
street names are invented. None of these is a real address.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "addresses.csv"
SEED = 20260301

# (town, county, postcode area, [(district, sector, [streets...])...])
PLACES = [
    (
        "Kingsbridge",
        "",
        "KB",
        [
            (1, 2, ["Abbey Road", "Chapel Street", "Market Place"]),
            (1, 4, ["Riverside Walk", "Mill Lane"]),
            (2, 3, ["Station Road", "Victoria Terrace", "Orchard Close"]),
            (3, 1, ["Castle Hill", "Bridge Street"]),
            (4, 7, ["Kingsway", "Willow Crescent", "Rowan Drive"]),
        ],
    ),
    (
        "Aberhafren",
        "Sir Hafren",
        "AH",
        [
            (1, 5, ["Stryd Fawr", "Heol y Castell"]),
            (2, 6, ["Ffordd yr Afon", "Lôn y Felin"]),
            (3, 4, ["Heol y Bont", "Maes y Dre", "Rhodfa'r Môr"]),
            (4, 2, ["Heol y Capel", "Clos y Deri"]),
        ],
    ),
    (
        "Northmoor",
        "Moorshire",
        "NM",
        [
            (1, 3, ["High Street", "Church Lane"]),
            (2, 8, ["Moor View", "Heather Close", "Peat Lane"]),
            (5, 6, ["Fell Road", "Beck Side", "Quarry Row"]),
            (6, 1, ["Ridgeway", "Old Forge Yard"]),
        ],
    ),
]
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
FLATS = ["Flat 1", "Flat 2", "Flat 3", "Flat A", "Flat B"]


def _unit(rng: random.Random, used: set[str], fixed: str | None) -> str:
    if fixed is not None and fixed not in used:
        used.add(fixed)
        return fixed
    while True:
        unit = rng.choice(LETTERS) + rng.choice(LETTERS)
        if unit not in used:
            used.add(unit)
            return unit


def build() -> list[dict[str, str]]:
    """Return the address rows in a stable order."""
    rng = random.Random(SEED)
    # The examples used in the documentation and tests must exist.
    fixed = {("KB", 1, 2): "AB", ("AH", 3, 4): "CD", ("NM", 5, 6): "EF"}
    rows: list[dict[str, str]] = []
    for town, county, area, districts in PLACES:
        for district, sector, streets in districts:
            used: set[str] = set()
            for street_index, street in enumerate(streets):
                wanted = fixed.get((area, district, sector)) if street_index == 0 else None
                postcode = f"{area}{district} {sector}{_unit(rng, used, wanted)}"
                count = rng.randint(6, 12)
                numbers = sorted(rng.sample(range(1, 80), count))
                for number in numbers:
                    line1 = f"{number} {street}"
                    line2 = ""
                    if rng.random() < 0.12:
                        line2 = line1
                        line1 = rng.choice(FLATS)
                    rows.append(
                        {
                            "line1": line1,
                            "line2": line2,
                            "town": town,
                            "county": county,
                            "postcode": postcode,
                        }
                    )
    for index, row in enumerate(rows, start=1):
        # A made-up unique property reference, like a UPRN, to identify a chosen address.
        row["id"] = f"CS{index:06d}"
    return rows


def main() -> None:
    """Write the CSV next to this script."""
    rows = build()
    with OUTPUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["id", "line1", "line2", "town", "county", "postcode"]
        )
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
