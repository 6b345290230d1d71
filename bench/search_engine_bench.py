#!/usr/bin/env python3
# SPDX-License-Identifier: EUPL-1.2
"""Benchmark the catalogue search engine on a deterministic synthetic corpus.

Run from the repository root (standard library only)::

    python bench/search_engine_bench.py [--services 10000] [--queries 2000] [--seed 20240]

The script generates ``--services`` services, each in English and Welsh
(title ~6 words, summary ~20, keywords ~6, body ~150), builds a
:class:`~civicstack.catalogue.search_engine.SearchIndex`, then times a mixed
workload of exact, misspelt, Welsh mutated and prefix (search-as-you-type)
queries and prints build time, vocabulary sizes and latency percentiles.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from civicstack.catalogue.search_engine import (
    SearchDocument,
    SearchIndex,
)


def word_list(text: str) -> list[str]:
    """Return the whitespace-separated words of ``text``."""
    return text.split()


EN_ACTIONS = (
    "apply for",
    "renew",
    "report",
    "pay",
    "register",
    "book",
    "request",
    "find",
    "check",
    "cancel",
    "change",
    "update",
    "claim",
    "appeal against",
    "replace",
    "get help with",
    "object to",
    "comment on",
    "order",
    "join",
)
EN_SUBJECTS = (
    "driving licence",
    "blue badge",
    "council tax",
    "pothole",
    "bin collection",
    "parking permit",
    "housing benefit",
    "school place",
    "library card",
    "planning permission",
    "building control",
    "street light",
    "fly tipping",
    "noise complaint",
    "pest control",
    "bulky waste",
    "garden waste",
    "recycling boxes",
    "allotment",
    "marriage ceremony",
    "birth certificate",
    "death certificate",
    "electoral register",
    "business rates",
    "premises licence",
    "taxi licence",
    "food hygiene rating",
    "free school meals",
    "school transport",
    "adult social care",
    "carers assessment",
    "disabled facilities grant",
    "homelessness advice",
    "tenancy deposit",
    "rent arrears",
    "council housing",
    "leisure centre membership",
    "swimming lessons",
    "dropped kerb",
    "tree preservation order",
    "road closure",
    "parking fine",
    "penalty charge notice",
    "residents parking",
    "pavement licence",
    "skip permit",
    "scaffolding licence",
    "dog fouling",
    "abandoned vehicle",
    "graffiti removal",
    "public toilets",
    "footpath diversion",
    "street trading licence",
    "alcohol licence",
    "animal licence",
    "childcare funding",
    "youth services",
    "adoption",
    "fostering",
    "blue plaque",
    "burial plot",
)
EN_COMMON = word_list(
    """
service services council online form forms application applications apply applying applied
information guidance help support contact phone email office local resident residents
property properties home homes house houses housing address addresses payment payments pay
paying paid fee fees cost costs charge charges discount discounts exemption exemptions
eligible eligibility check checking checked document documents evidence proof identity
account accounts register registered registration renew renewal renewing renewed
permit permits licence licences licensing licensed application deadline deadlines date
dates week weeks month months year years day days working time times appointment
appointments booking bookings book booked cancel cancelled change changes changing
update updates updated request requests requested decision decisions appeal appeals
review reviews reviewed complaint complaints report reports reporting reported problem
problems issue issues street streets road roads pavement pavements vehicle vehicles car
cars parking park parks bin bins waste recycling collection collections rubbish
garden gardens school schools pupil pupils child children family families parent parents
carer carers care adult adults older people person disabled disability benefit benefits
grant grants funding fund support supported assessment assessments officer officers team
teams department departments library libraries book books card cards leisure centre
centres sport sports swimming pool pools event events community communities business
businesses trade trading premises food hygiene inspection inspections safety safe health
environmental environment noise nuisance pest pests animal animals dog dogs tree trees
planning plan plans building buildings control controls permission consent notice notices
fine fines penalty penalties tax taxes rate rates band bands valuation bill bills
arrears debt debts tenancy tenant tenants landlord landlords rent rented renting deposit
homeless homelessness advice emergency emergencies night weekend opening hours closure
closures diversion footpath footpaths bridge bridges light lights lighting repair repairs
repaired damage damaged flooding flood floods drain drains gully gullies highway highways
transport bus buses travel pass passes concessionary free meals uniform grant term terms
holiday holidays admission admissions transfer transfers election elections vote voting
voter voters poll polling postal proxy citizen citizenship ceremony ceremonies marriage
civil partnership birth births death deaths certificate certificates copy copies
"""
)
PLACE_SYLLABLES = (
    "aber",
    "llan",
    "pen",
    "tre",
    "caer",
    "bryn",
    "cwm",
    "nant",
    "pont",
    "rhos",
    "maes",
    "coed",
    "glan",
    "dol",
    "ffor",
    "gwen",
    "hen",
    "mor",
    "ystrad",
    "bedd",
    "fach",
    "fawr",
    "isaf",
    "uchaf",
    "wen",
    "ddu",
    "goch",
    "las",
    "wy",
    "ton",
)

CY_ACTIONS = (
    "gwneud cais am",
    "adnewyddu",
    "rhoi gwybod am",
    "talu",
    "cofrestru",
    "archebu",
    "gofyn am",
    "dod o hyd i",
    "gwirio",
    "canslo",
    "newid",
    "diweddaru",
    "hawlio",
    "apelio yn erbyn",
    "disodli",
    "cael help gyda",
    "gwrthwynebu",
    "archebu",
)
CY_SUBJECTS = (
    "trwydded yrru",
    "bathodyn glas",
    "treth gyngor",
    "twll yn y ffordd",
    "casglu biniau",
    "trwydded barcio",
    "budd-dal tai",
    "lle ysgol",
    "cerdyn llyfrgell",
    "caniatâd cynllunio",
    "rheoli adeiladu",
    "golau stryd",
    "tipio anghyfreithlon",
    "cwyn sŵn",
    "rheoli plâu",
    "gwastraff swmpus",
    "gwastraff gardd",
    "blychau ailgylchu",
    "rhandir",
    "seremoni briodas",
    "tystysgrif geni",
    "tystysgrif marwolaeth",
    "cofrestr etholiadol",
    "ardrethi busnes",
    "trwydded safle",
    "trwydded tacsi",
    "sgôr hylendid bwyd",
    "prydau ysgol am ddim",
    "cludiant ysgol",
    "gofal cymdeithasol",
    "asesiad gofalwyr",
    "grant cyfleusterau i bobl anabl",
    "cyngor digartrefedd",
    "blaendal tenantiaeth",
    "ôl-ddyledion rhent",
    "tai cyngor",
    "aelodaeth canolfan hamdden",
    "gwersi nofio",
    "cwrbyn isel",
    "gorchymyn cadw coed",
    "cau ffordd",
    "dirwy parcio",
    "hysbysiad tâl cosb",
    "parcio preswylwyr",
    "trwydded palmant",
    "trwydded sgip",
    "baw cŵn",
    "cerbyd wedi'i adael",
    "cael gwared ar graffiti",
    "toiledau cyhoeddus",
    "gwasanaethau ieuenctid",
    "mabwysiadu",
    "maethu",
    "plac glas",
    "llain gladdu",
)
CY_COMMON = word_list(
    """
gwasanaeth gwasanaethau cyngor ar-lein ffurflen ffurflenni cais ceisiadau gwybodaeth
canllawiau cymorth cefnogaeth cysylltu ffôn ebost swyddfa lleol preswylydd preswylwyr
eiddo cartref cartrefi tŷ tai cyfeiriad taliad taliadau talu ffi ffioedd cost costau
gostyngiad gostyngiadau esemptiad cymwys cymhwysedd gwirio dogfen dogfennau tystiolaeth
prawf hunaniaeth cyfrif cyfrifon cofrestru cofrestriad adnewyddu trwydded trwyddedau
trwyddedu dyddiad cau dyddiadau wythnos wythnosau mis misoedd blwyddyn blynyddoedd diwrnod
dyddiau gwaith amser apwyntiad apwyntiadau archebu newid newidiadau diweddariad cais
penderfyniad penderfyniadau apêl adolygiad cwyn cwynion adroddiad problem problemau
stryd strydoedd ffordd ffyrdd palmant cerbyd cerbydau car ceir parcio parc parciau bin
biniau gwastraff ailgylchu casgliad casgliadau sbwriel gardd gerddi ysgol ysgolion
disgybl disgyblion plentyn plant teulu teuluoedd rhiant rhieni gofalwr gofalwyr gofal
oedolyn oedolion hŷn pobl person anabl anabledd budd-dal budd-daliadau grant grantiau
cyllid cronfa asesiad asesiadau swyddog swyddogion tîm timau adran adrannau llyfrgell
llyfrgelloedd llyfr llyfrau cerdyn cardiau hamdden canolfan canolfannau chwaraeon nofio
pwll digwyddiad digwyddiadau cymuned cymunedau busnes busnesau masnach masnachu safle
bwyd hylendid arolygiad diogelwch diogel iechyd amgylcheddol amgylchedd sŵn niwsans pla
anifail anifeiliaid ci cŵn coeden coed cynllunio cynllun cynlluniau adeilad adeiladau
rheoli caniatâd hysbysiad hysbysiadau dirwy dirwyon cosb cosbau treth trethi band bandiau
prisio bil biliau dyled dyledion tenantiaeth tenant tenantiaid landlord landlordiaid rhent
blaendal digartref digartrefedd cyngor argyfwng nos penwythnos oriau agor cau dargyfeirio
llwybr llwybrau pont pontydd golau goleuadau atgyweirio difrod llifogydd draen draeniau
priffordd priffyrdd cludiant bws bysiau teithio tocyn tocynnau rhatach am ddim prydau
gwisg tymor tymhorau gwyliau derbyn trosglwyddo etholiad etholiadau pleidlais pleidleisio
pleidleiswyr post dirprwy dinesydd dinasyddiaeth seremoni seremonïau priodas partneriaeth
sifil genedigaeth marwolaeth tystysgrif tystysgrifau copi copïau
"""
)
CY_TRIGGERS_SOFT = ("ei", "dy", "i", "o", "am", "ar", "dan", "dros", "drwy", "gan", "heb")
CY_TRIGGERS_NASAL = ("fy", "yn")
CY_TRIGGERS_ASPIRATE = ("a", "ei", "tua", "gyda")

SOFT = {"p": "b", "t": "d", "c": "g", "b": "f", "d": "dd", "g": "", "m": "f", "ll": "l", "rh": "r"}
NASAL = {"p": "mh", "t": "nh", "c": "ngh", "b": "m", "d": "n", "g": "ng"}
ASPIRATE = {"p": "ph", "t": "th", "c": "ch"}


def mutate(word: str, table: dict[str, str]) -> str:
    """Apply a Welsh mutation table to the initial consonant of ``word``."""
    for initial in ("ll", "rh"):
        if word.startswith(initial):
            return table[initial] + word[2:] if initial in table else word
    if word.startswith(("ch", "ph", "th", "dd", "ff", "ng")):
        return word
    if word[:1] in table:
        return table[word[0]] + word[1:]
    return word


def zipf_weights(count: int) -> list[float]:
    """Return Zipf-like weights for ``count`` ranked items."""
    return [1.0 / (rank + 1) ** 0.9 for rank in range(count)]


def place_names(rng: random.Random, count: int) -> list[str]:
    """Generate Welsh-style place names from syllables (grows the vocabulary)."""
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(PLACE_SYLLABLES) for _ in range(rng.randint(2, 3))))
    return sorted(names)


def english_document(
    rng: random.Random, number: int, places: list[str]
) -> tuple[str, dict[str, str]]:
    """Return the slug and fields of one synthetic English service."""
    action = rng.choice(EN_ACTIONS)
    subject = rng.choice(EN_SUBJECTS)
    place = rng.choice(places)
    title = f"{action} {subject} in {place.capitalize()}"
    weights = zipf_weights(len(EN_COMMON))
    summary = " ".join(rng.choices(EN_COMMON, weights, k=17) + subject.split())
    keywords = " ".join(rng.sample(EN_SUBJECTS, 2) + rng.choices(EN_COMMON, k=2))
    body_words = rng.choices(EN_COMMON, weights, k=140)
    body_words += subject.split() + action.split() + rng.sample(places, 3)
    rng.shuffle(body_words)
    slug = f"{action}-{subject}-{number}".replace(" ", "-")
    fields = {
        "title": title,
        "summary": summary,
        "keywords": keywords,
        "body": " ".join(body_words),
    }
    return slug, fields


def welsh_text(rng: random.Random, words: list[str]) -> str:
    """Join Welsh words, inserting mutation triggers and mutating what follows."""
    out: list[str] = []
    for word in words:
        roll = rng.random()
        if roll < 0.15:
            out += [rng.choice(CY_TRIGGERS_SOFT), mutate(word, SOFT)]
        elif roll < 0.20:
            out += [rng.choice(CY_TRIGGERS_NASAL), mutate(word, NASAL)]
        elif roll < 0.23:
            out += [rng.choice(CY_TRIGGERS_ASPIRATE), mutate(word, ASPIRATE)]
        else:
            out.append(word)
    return " ".join(out)


def welsh_document(rng: random.Random, places: list[str]) -> dict[str, str]:
    """Return the fields of one synthetic Welsh service."""
    action = rng.choice(CY_ACTIONS)
    subject = rng.choice(CY_SUBJECTS)
    place = rng.choice(places)
    title = f"{action} {subject} yn {mutate(place, NASAL).capitalize()}"
    weights = zipf_weights(len(CY_COMMON))
    summary = welsh_text(rng, rng.choices(CY_COMMON, weights, k=17) + subject.split())
    keywords = " ".join(rng.sample(CY_SUBJECTS, 2) + rng.choices(CY_COMMON, k=2))
    body_words = rng.choices(CY_COMMON, weights, k=140)
    body_words += subject.split() + action.split() + rng.sample(places, 3)
    rng.shuffle(body_words)
    return {
        "title": title,
        "summary": summary,
        "keywords": keywords,
        "body": welsh_text(rng, body_words),
    }


def build_corpus(services: int, seed: int) -> list[SearchDocument]:
    """Generate ``services`` services in English and Welsh."""
    rng = random.Random(seed)
    places = place_names(rng, 6000)
    documents: list[SearchDocument] = []
    for number in range(services):
        slug, en_fields = english_document(rng, number, places)
        key = f"service:{slug}"
        documents.append(SearchDocument(key=key, language="en", fields=en_fields))
        documents.append(SearchDocument(key=key, language="cy", fields=welsh_document(rng, places)))
    return documents


def typo(rng: random.Random, word: str) -> str:
    """Apply one random edit (delete, transpose, substitute, insert) to ``word``."""
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    letter = rng.choice("abcdefghijklmnopqrstuvwy")
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 2:
        return word[:i] + letter + word[i + 1 :]
    return word[:i] + letter + word[i:]


def build_queries(count: int, seed: int) -> list[tuple[str, str, str]]:
    """Return ``(kind, language, query)`` triples for a mixed workload."""
    rng = random.Random(seed + 1)
    queries: list[tuple[str, str, str]] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.25:
            words = rng.choice(EN_SUBJECTS).split()
            if rng.random() < 0.4:
                words = rng.choice(EN_ACTIONS).split()[-1:] + words
            queries.append(("exact", "en", " ".join(words[:3])))
        elif roll < 0.45:
            words = rng.choice(EN_SUBJECTS).split()
            j = rng.randrange(len(words))
            words[j] = typo(rng, words[j])
            queries.append(("typo", "en", " ".join(words)))
        elif roll < 0.65:
            words = rng.choice(CY_SUBJECTS).split()
            table = rng.choice((SOFT, NASAL, ASPIRATE))
            words[0] = mutate(words[0], table)
            queries.append(("welsh-mutated", "cy", " ".join(words)))
        elif roll < 0.75:
            words = rng.choice(CY_SUBJECTS).split()
            j = rng.randrange(len(words))
            words[j] = typo(rng, words[j])
            queries.append(("welsh-typo", "cy", " ".join(words)))
        else:
            language = rng.choice(("en", "cy"))
            words = rng.choice(EN_SUBJECTS if language == "en" else CY_SUBJECTS).split()
            last = words[-1]
            words[-1] = last[: rng.randint(3, max(3, min(6, len(last))))]
            queries.append(("prefix", language, " ".join(words)))
    return queries


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def main() -> None:
    """Build the corpus and index, run the workload and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=20240)
    args = parser.parse_args()

    started = time.perf_counter()
    documents = build_corpus(args.services, args.seed)
    generated = time.perf_counter() - started
    print(
        f"python {sys.version.split()[0]}; corpus: {len(documents)} documents "
        f"({args.services} services x en+cy), generated in {generated:.2f} s"
    )

    gc.collect()
    started = time.perf_counter()
    index = SearchIndex(documents, {"title": 4, "keywords": 3, "summary": 2, "body": 1})
    built = time.perf_counter() - started
    print(f"build time: {built:.2f} s")
    for language in index.languages:
        print(f"vocabulary ({language}): {index.vocabulary_size(language)} index terms")

    queries = build_queries(args.queries, args.seed)
    timings: dict[str, list[float]] = {}
    totals = 0
    gc.collect()
    for kind, language, query in queries:
        t0 = time.perf_counter_ns()
        results = index.search(query, language=language, limit=20)
        elapsed_ms = (time.perf_counter_ns() - t0) / 1e6
        timings.setdefault(kind, []).append(elapsed_ms)
        timings.setdefault("all", []).append(elapsed_ms)
        totals += results.total
    print(f"queries: {len(queries)} (mean matches per query {totals / len(queries):.0f})")
    print(f"{'kind':<14}{'n':>6}{'mean ms':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for kind in ("exact", "typo", "welsh-mutated", "welsh-typo", "prefix", "all"):
        values = sorted(timings.get(kind, []))
        if not values:
            continue
        print(
            f"{kind:<14}{len(values):>6}{statistics.fmean(values):>10.2f}"
            f"{percentile(values, 0.50):>9.2f}{percentile(values, 0.99):>9.2f}"
            f"{values[-1]:>9.2f}"
        )
    sample = index.search("nhrwydded yrru", language="cy", limit=3)
    print("sample 'nhrwydded yrru' (cy):", [hit.key for hit in sample.hits], sample.total)
    sample = index.search("housng benifit", language="en", limit=3)
    print("sample 'housng benifit' (en):", sample.corrections, sample.total)


if __name__ == "__main__":
    main()
