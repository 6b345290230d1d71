# SPDX-License-Identifier: EUPL-1.2
"""Tests for the database-independent catalogue search engine (no Django needed)."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    from civicstack.catalogue.search_engine import (
        SearchDocument,
        SearchIndex,
        SearchResults,
        normalise_text,
        stem_english,
        welsh_radicals,
    )
except ModuleNotFoundError:  # run with --noconftest from outside the project
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from civicstack.catalogue.search_engine import (
        SearchDocument,
        SearchIndex,
        SearchResults,
        normalise_text,
        stem_english,
        welsh_radicals,
    )


def doc(key: str, language: str = "en", **fields: str) -> SearchDocument:
    """Build a document from keyword fields."""
    return SearchDocument(key=key, language=language, fields=fields)


CATALOGUE = [
    doc(
        "service:renew-driving-licence",
        title="Renew your driving licence",
        summary="Renew a photocard driving licence online or by post.",
        keywords="licence, DVLA, motoring",
        body="You must renew your photocard licence every ten years.",
    ),
    doc(
        "service:blue-badge",
        title="Apply for a blue badge",
        summary="Parking permit for disabled people.",
        keywords="disabled parking, badges",
        body="A blue badge lets you park closer to where you need to go.",
    ),
    doc(
        "service:report-pothole",
        title="Report a pothole",
        summary="Tell the council about potholes and damaged roads.",
        keywords="road repairs, highways",
        body="We inspect every reported pothole within two working days.",
    ),
    doc(
        "service:housing-benefit",
        title="Housing benefit",
        summary="Get help paying your rent if you are on a low income.",
        keywords="rent, benefits, housing",
        body="Housing benefit is paid by the council to help with housing costs.",
    ),
    doc(
        "service:council-tax",
        title="Pay your council tax",
        summary="Pay council tax online, by direct debit or by phone.",
        keywords="council tax, payments, bills",
        body="Council tax bands depend on the value of your home.",
    ),
    doc(
        "service:allotments",
        title="Rent an allotment",
        summary="Join the waiting list for an allotment plot.",
        keywords="gardening, allotments",
        body="Allotments are available across the county.",
    ),
    doc(
        "service:parking-permits",
        title="Residents parking permits",
        summary="Apply for or renew parking permits for your street.",
        keywords="parking, permits",
        body="Permits cost 40 pounds a year. Renewing is done online.",
    ),
    # Welsh versions of some services (same keys, other language).
    doc(
        "service:renew-driving-licence",
        "cy",
        title="Adnewyddu eich trwydded yrru",
        summary="Adnewyddu trwydded yrru cerdyn-llun ar-lein neu drwy'r post.",
        keywords="trwydded, gyrru, moduro",
        body="Rhaid i chi adnewyddu eich trwydded bob deng mlynedd.",
    ),
    doc(
        "service:blue-badge",
        "cy",
        title="Gwneud cais am fathodyn glas",
        summary="Trwydded barcio i bobl anabl.",
        keywords="parcio i bobl anabl, bathodynnau",
        body="Mae bathodyn glas yn gadael i chi barcio'n agosach.",
    ),
    doc(
        "service:council-tax",
        "cy",
        title="Talu eich treth gyngor",
        summary="Talu'r dreth gyngor ar-lein, drwy ddebyd uniongyrchol neu dros y ffôn.",
        keywords="treth gyngor, taliadau, biliau",
        body="Mae bandiau'r dreth gyngor yn dibynnu ar werth eich cartref.",
    ),
    doc(
        "service:housing-benefit",
        "cy",
        title="Budd-dal tai",
        summary="Cael help i dalu eich rhent os yw eich incwm yn isel.",
        keywords="rhent, budd-daliadau, tai",
        body="Telir budd-dal tai gan y cyngor i'ch helpu gyda chostau tai.",
    ),
    doc(
        "service:school-meals",
        "cy",
        title="Prydau ysgol am ddim i'ch plant",
        summary="Gwneud cais am brydau ysgol am ddim i'ch teulu.",
        keywords="ysgol, bwyd, teulu, plant",
        body="Gall plant gael cinio ysgol am ddim.",
    ),
    doc(
        "service:car-parks",
        "cy",
        title="Meysydd parcio ceir",
        summary="Ble i barcio car yng nghanol y dref.",
        keywords="car, parcio",
        body="Gallwch dalu am barcio car gyda'r ap.",
    ),
    doc(
        "service:water-services",
        "cy",
        title="Gwasanaethau dŵr a chyfleusterau tŷ",
        summary="Gwybodaeth am ŵyl y dref a'r tŷ cymunedol.",
        keywords="dŵr, tŷ",
        body="Mae'r tŷ cymunedol ar agor bob dydd.",
    ),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    """Index the sample catalogue with the default field weights."""
    return SearchIndex(CATALOGUE)


def keys(results: SearchResults) -> list[str]:
    """Return the hit keys of a result page, in order."""
    return [hit.key for hit in results.hits]


# ---------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------


def test_title_match_outranks_body_only_match() -> None:
    """A term in the title scores higher than the same term only in the body."""
    index = SearchIndex(
        [
            doc("b-body", title="Roads", summary="Repairs", body="pothole pothole info"),
            doc("a-title", title="Pothole reporting", summary="Repairs", body="some info here"),
        ]
    )
    assert keys(index.search("pothole", language="en")) == ["a-title", "b-body"]


def test_rarer_term_weighs_more() -> None:
    """A document matching only a rare query term outranks one matching only a common term."""
    docs = [doc(f"common-{i}", title=f"council service {i}") for i in range(20)]
    docs.append(doc("rare", title="allotment"))
    index = SearchIndex(docs)
    results = index.search("council allotment", language="en")
    assert results.hits[0].key == "rare"
    assert results.total == 21


def test_more_matched_terms_rank_higher(index: SearchIndex) -> None:
    """A document matching several query terms outranks ones matching one of them."""
    results = index.search("renew parking permits", language="en")
    assert results.hits[0].key == "service:parking-permits"
    assert set(results.hits[0].matched_terms) == {"renew", "parking", "permits"}


def test_scores_are_positive_and_descending(index: SearchIndex) -> None:
    """Hits come back with positive scores in non-increasing order."""
    scores = [hit.score for hit in index.search("council tax rent", language="en").hits]
    assert scores and all(score > 0 for score in scores)
    assert scores == sorted(scores, reverse=True)


def test_field_weights_are_configurable() -> None:
    """Custom field weights change which field dominates the ranking."""
    docs = [
        doc("in-title", title="pothole", body="roads"),
        doc("in-body", title="roads", body="pothole"),
    ]
    body_heavy = SearchIndex(docs, {"title": 1.0, "body": 10.0})
    assert keys(body_heavy.search("pothole", language="en"))[0] == "in-body"


def test_zero_weight_field_is_not_searchable() -> None:
    """A field with weight zero is not indexed at all."""
    index = SearchIndex([doc("a", title="Parking", internal="secret")], {"title": 1, "internal": 0})
    assert index.search("secret", language="en").total == 0


def test_unknown_field_is_indexed_with_weight_one() -> None:
    """A field missing from the weights is still searchable."""
    index = SearchIndex([doc("a", title="Parking", department="Highways")], {"title": 2.0})
    assert keys(index.search("highways", language="en")) == ["a"]


# ---------------------------------------------------------------------------
# Language handling
# ---------------------------------------------------------------------------


def test_only_requested_language_is_searched(index: SearchIndex) -> None:
    """English queries never return Welsh documents and vice versa."""
    assert index.search("trwydded", language="en").total == 0
    welsh = index.search("trwydded", language="cy")
    assert "service:renew-driving-licence" in keys(welsh)
    assert index.search("licence", language="cy").total == 0


def test_language_codes_are_normalised(index: SearchIndex) -> None:
    """Regional and upper-case language codes select the primary language."""
    plain = keys(index.search("council tax", language="en"))
    assert keys(index.search("council tax", language="en-GB")) == plain
    assert keys(index.search("council tax", language="EN")) == plain
    assert index.languages == ("cy", "en")


def test_unknown_language_returns_nothing(index: SearchIndex) -> None:
    """A language with no documents gives an empty result, not an error."""
    results = index.search("council", language="fr")
    assert results.total == 0 and results.hits == [] and results.corrections == {}


def test_same_key_may_exist_in_each_language() -> None:
    """One key may be used once per language but not twice in one language."""
    SearchIndex([doc("k", "en", title="tax"), doc("k", "cy", title="treth")])
    with pytest.raises(ValueError, match="duplicate"):
        SearchIndex([doc("k", "en", title="tax"), doc("k", "en-GB", title="tax")])


def test_invalid_parameters_are_rejected() -> None:
    """Negative or non-finite field weights and out-of-range BM25 parameters raise."""
    with pytest.raises(ValueError):
        SearchIndex([], {"title": -1.0})
    with pytest.raises(ValueError):
        SearchIndex([], {"title": float("nan")})
    with pytest.raises(ValueError):
        SearchIndex([], b=1.5)
    with pytest.raises(ValueError):
        SearchIndex([], k1=-0.1)


# ---------------------------------------------------------------------------
# Normalisation and English stemming
# ---------------------------------------------------------------------------


def test_normalisation_strips_diacritics_and_case() -> None:
    """Text is decomposed, stripped of combining marks and case-folded."""
    assert normalise_text("Tŷ Dŵr CAFÉ Straße") == "ty dwr cafe strasse"
    assert normalise_text("e\u0301") == "e"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("licence", "licences"), "licenc"),
        (("renew", "renewing", "renewed"), "renew"),
        (("permit", "permits"), "permit"),
        (("house", "houses", "housing"), "hous"),
        (("apply", "applies", "applied", "applying"), "apply"),
        (("care", "caring"), "care"),
        (("pothole", "potholes"), "pothol"),
        (("tax", "taxes"), "tax"),
    ],
)
def test_english_stemmer_conflates_inflections(words: tuple[str, ...], expected: str) -> None:
    """Inflected forms of a word share one stem."""
    assert {stem_english(word) for word in words} == {expected}


def test_english_stemmer_is_conservative() -> None:
    """Distinct words stay distinct and short words or numbers are untouched."""
    assert stem_english("car") != stem_english("care")
    assert stem_english("bus") == "bus"
    assert stem_english("status") == "status"
    assert stem_english("2024s") == "2024s"
    assert stem_english("string") == "string"


def test_plural_query_finds_singular_document(index: SearchIndex) -> None:
    """Stemming lets plural and -ing query forms match singular or base forms."""
    assert keys(index.search("licences", language="en"))[0] == "service:renew-driving-licence"
    assert "service:parking-permits" in keys(index.search("permit", language="en"))
    assert "service:renew-driving-licence" in keys(index.search("renewing", language="en"))


def test_stop_words_are_ignored(index: SearchIndex) -> None:
    """Stop words neither match documents nor change the ranking."""
    plain = index.search("renew licence", language="en")
    noisy = index.search("how do I renew the licence", language="en")
    assert keys(noisy) == keys(plain)
    assert [hit.score for hit in noisy.hits] == [hit.score for hit in plain.hits]


@pytest.mark.parametrize(
    ("query", "language"),
    [
        ("", "en"),
        ("   ", "en"),
        ("the and of to", "en"),
        ("y yr a ac i o", "cy"),
        ("!!! ???", "cy"),
    ],
)
def test_empty_or_stop_word_query_returns_nothing(
    index: SearchIndex, query: str, language: str
) -> None:
    """Queries without usable terms return an empty result without error."""
    results = index.search(query, language=language)
    assert results.total == 0 and results.hits == [] and results.corrections == {}


# ---------------------------------------------------------------------------
# Typo tolerance and search-as-you-type
# ---------------------------------------------------------------------------


def test_misspelt_term_is_corrected(index: SearchIndex) -> None:
    """An unknown term within one edit is corrected and the correction reported."""
    results = index.search("licnce", language="en")
    assert results.corrections == {"licnce": "licence"}
    assert keys(results)[0] == "service:renew-driving-licence"


def test_american_spelling_is_corrected(index: SearchIndex) -> None:
    """'license' (not in the vocabulary) is corrected to 'licence'."""
    results = index.search("driving license", language="en")
    assert results.corrections == {"license": "licence"}
    assert keys(results)[0] == "service:renew-driving-licence"


def test_several_misspelt_terms_are_corrected(index: SearchIndex) -> None:
    """Each unknown term of a query is corrected independently."""
    results = index.search("housng benifit", language="en")
    assert results.corrections == {"housng": "housing", "benifit": "benefit"}
    assert keys(results)[0] == "service:housing-benefit"


def test_two_edits_allowed_for_long_terms() -> None:
    """Terms of eight letters or more tolerate two edits; shorter terms only one."""
    index = SearchIndex([doc("a", title="environmental health"), doc("b", title="parking")])
    assert index.search("enviromental", language="en").corrections == {
        "enviromental": "environmental"
    }
    assert index.search("envirnomentl", language="en").corrections == {
        "envirnomentl": "environmental"
    }
    assert index.search("prkng", language="en").total == 0


def test_transposition_counts_as_one_edit() -> None:
    """Swapped adjacent letters are a single (Damerau) edit."""
    index = SearchIndex([doc("a", title="parking")])
    assert index.search("pakring", language="en").corrections == {"pakring": "parking"}


def test_correction_prefers_most_frequent_word() -> None:
    """Among equally close vocabulary words the most frequent one is chosen."""
    docs = [doc(f"m{i}", title="market") for i in range(5)]
    docs.append(doc("k", title="marker"))
    index = SearchIndex(docs)
    assert index.search("markex tax", language="en").corrections == {"markex": "market"}


def test_short_and_known_terms_are_not_corrected(index: SearchIndex) -> None:
    """Terms of three letters or fewer and vocabulary words are never corrected."""
    assert index.search("txa", language="en").corrections == {}
    assert index.search("council", language="en").corrections == {}


def test_last_term_matches_as_prefix(index: SearchIndex) -> None:
    """The last query term also matches words it starts (search-as-you-type)."""
    results = index.search("pothol", language="en")
    assert keys(results)[0] == "service:report-pothole"
    results = index.search("rent an allotm", language="en")
    assert keys(results)[0] == "service:allotments"
    assert results.corrections == {}


def test_only_last_term_is_a_prefix(index: SearchIndex) -> None:
    """Earlier terms must match whole words (or be corrected), not prefixes."""
    assert "service:allotments" not in keys(index.search("allotm zzzz", language="en"))


def test_prefix_match_weighs_less_than_exact_match() -> None:
    """An exact match of the last term outranks a prefix-only match."""
    index = SearchIndex([doc("a", title="carer support"), doc("b", title="car support")])
    assert keys(index.search("car", language="en")) == ["b", "a"]


def test_typo_correction_is_fast_with_large_vocabulary() -> None:
    """Correction uses a deletion index, so a 50,000-word vocabulary stays fast."""
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(5, 11))) for _ in range(50_000)}
    words.add("environmental")
    vocabulary = sorted(words)
    docs = [doc(f"d{i}", title=" ".join(vocabulary[i::2000])) for i in range(2000)]
    index = SearchIndex(docs)
    started = time.perf_counter()
    results = index.search("environmentl", language="en")
    elapsed = time.perf_counter() - started
    assert results.corrections == {"environmentl": "environmental"}
    assert elapsed < 0.5


# ---------------------------------------------------------------------------
# Welsh
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "radical"),
    [
        ("nhrwydded", "trwydded"),  # nasal t
        ("drwydded", "trwydded"),  # soft t
        ("thrwydded", "trwydded"),  # aspirate t
        ("fathodyn", "bathodyn"),  # soft b
        ("mathodyn", "bathodyn"),  # nasal b
        ("gar", "car"),  # soft c
        ("nghar", "car"),  # nasal c
        ("char", "car"),  # aspirate c
        ("brydau", "prydau"),  # soft p
        ("mhlant", "plant"),  # nasal p
        ("phlant", "plant"),  # aspirate p
        ("ddebyd", "debyd"),  # soft d
        ("nhad", "tad"),  # nasal t
        ("wasanaeth", "gwasanaeth"),  # soft g (dropped)
        ("ngwasanaeth", "gwasanaeth"),  # nasal g
        ("fam", "mam"),  # soft m
        ("lyfrgell", "llyfrgell"),  # soft ll
        ("rif", "rhif"),  # soft rh
        ("henw", "enw"),  # h-prothesis
    ],
)
def test_welsh_radicals_undo_mutations(word: str, radical: str) -> None:
    """Each mutated form lists its radical among its candidates, after itself."""
    candidates = welsh_radicals(word)
    assert candidates[0] == word
    assert radical in candidates


def test_welsh_radicals_keep_unmutatable_words() -> None:
    """Radical-only initials and short words yield just the word itself."""
    assert welsh_radicals("trwydded") == ("trwydded",)
    assert welsh_radicals("llyfr") == ("llyfr",)
    assert welsh_radicals("ffordd") == ("ffordd",)
    assert welsh_radicals("2024") == ("2024",)
    assert welsh_radicals("y") == ("y",)


def test_nasal_mutation_query_finds_radical(index: SearchIndex) -> None:
    """'nhrwydded yrru' finds documents about 'trwydded yrru'."""
    results = index.search("nhrwydded yrru", language="cy")
    assert keys(results)[0] == "service:renew-driving-licence"


def test_soft_mutation_query_finds_radical(index: SearchIndex) -> None:
    """'dreth gyngor' finds 'treth gyngor' and 'fathodyn glas' finds 'bathodyn glas'."""
    assert keys(index.search("dreth gyngor", language="cy"))[0] == "service:council-tax"
    assert keys(index.search("fathodyn glas", language="cy"))[0] == "service:blue-badge"


def test_radical_query_finds_mutated_text(index: SearchIndex) -> None:
    """A radical query matches mutated forms in documents ('bathodyn' -> 'fathodyn')."""
    results = index.search("bathodyn", language="cy")
    assert keys(results) == ["service:blue-badge"]


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("fudd-dal", "service:housing-benefit"),
        ("mhlant", "service:school-meals"),
        ("theulu", "service:school-meals"),
        ("nghar", "service:car-parks"),
        ("char", "service:car-parks"),
        ("gar", "service:car-parks"),
        ("phrydau", "service:school-meals"),
    ],
)
def test_mutated_queries_find_services(index: SearchIndex, query: str, key: str) -> None:
    """Soft, nasal and aspirate mutated query words find the radical form."""
    assert keys(index.search(query, language="cy"))[0] == key


def test_mutation_matching_is_not_transitive() -> None:
    """'pen' matches 'ben' (soft) but not 'men' (nasal of 'ben', never of 'pen')."""
    index = SearchIndex([doc("ben", "cy", title="ben"), doc("men", "cy", title="men")])
    assert keys(index.search("pen", language="cy")) == ["ben"]
    assert keys(index.search("ben", language="cy")) == ["ben", "men"]


def test_exact_mutated_form_ranks_first() -> None:
    """A document containing the exact mutated form outranks one with another form."""
    index = SearchIndex([doc("a", "cy", title="car parcio"), doc("b", "cy", title="gar parcio")])
    assert keys(index.search("gar", language="cy")) == ["b", "a"]


def test_welsh_diacritics_are_ignored(index: SearchIndex) -> None:
    """Circumflexes do not matter on either side: 'ty'/'tŷ', 'dwr'/'dŵr'."""
    assert keys(index.search("ty dwr", language="cy"))[0] == "service:water-services"
    assert keys(index.search("TŶ DŴR", language="cy"))[0] == "service:water-services"
    assert keys(index.search("wyl", language="cy")) == ["service:water-services"]


def test_welsh_stop_words_are_ignored(index: SearchIndex) -> None:
    """Welsh function words (y, yr, a, i, o, ar, yn, eich...) do not match anything."""
    assert index.search("y yr a ac i o ar am yn ei eich", language="cy").total == 0
    plain = keys(index.search("treth gyngor", language="cy"))
    assert keys(index.search("talu'r dreth gyngor yn y dref", language="cy"))[:1] == plain[:1]


def test_welsh_typo_is_corrected(index: SearchIndex) -> None:
    """Welsh terms get typo tolerance too, also combined with a mutation."""
    results = index.search("trwyded", language="cy")
    assert results.corrections == {"trwyded": "trwydded"}
    assert "service:renew-driving-licence" in keys(results)


def test_welsh_prefix_handles_mutations(index: SearchIndex) -> None:
    """A mutated, partially typed last term matches by prefix of its radical."""
    assert keys(index.search("nhrwy", language="cy"))[0] == "service:renew-driving-licence"


# ---------------------------------------------------------------------------
# Robustness, determinism and pagination
# ---------------------------------------------------------------------------

HOSTILE_QUERIES = [
    "a" * 10_240,
    "licence " * 1_300,
    " ".join(f"word{i}" for i in range(2_000)),
    "x" * 65 + " licence",
    "\x00\x01\x02\x1b[31m\x7f licence",
    "\udcff\ud800 licence \udfff",
    "'; DROP TABLE services; --",
    '" OR 1=1 /* */',
    "{{ request.user }} {% debug %} ${jndi:ldap://x} %s %(x)s",
    ".*+?[](){}|^$\\",
    "<script>alert(1)</script>",
    "\u202e\u200b\ufeff licence",
    "🚗🚗 licence 🅿️",
    "ℌ𝔢𝔩𝔩𝔬 ﬁle ½",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
@pytest.mark.parametrize("language", ["en", "cy", "xx", "\udcff", ""])
def test_hostile_queries_never_raise(index: SearchIndex, query: str, language: str) -> None:
    """Huge, control-character, surrogate and metacharacter queries just return results."""
    results = index.search(query, language=language, limit=5)
    assert results.total >= len(results.hits)
    assert len(results.hits) <= 5


def test_hostile_query_still_finds_real_terms(index: SearchIndex) -> None:
    """Real words amid control characters and surrogates are still found."""
    results = index.search("\x00\udcff licence \x1b", language="en")
    assert keys(results)[0] == "service:renew-driving-licence"


def test_hostile_documents_are_indexed() -> None:
    """Documents with surrogates, control characters and huge tokens can be indexed."""
    index = SearchIndex(
        [
            doc("a", title="\udcff\x00 parking \x1b", body="z" * 100_000),
            doc("b", title="", summary="🚗", body="ℌ𝔢𝔩𝔩𝔬"),
        ]
    )
    assert keys(index.search("parking", language="en")) == ["a"]
    assert keys(index.search("hello", language="en")) == ["b"]


@settings(max_examples=200, deadline=None)
@given(query=st.text(max_size=300), limit=st.integers(-5, 50), offset=st.integers(-5, 50))
def test_any_text_query_is_safe(index: SearchIndex, query: str, limit: int, offset: int) -> None:
    """Arbitrary Unicode queries and paging values never raise and respect the limit."""
    for language in ("en", "cy"):
        results = index.search(query, language=language, limit=limit, offset=offset)
        assert len(results.hits) <= max(0, limit)
        assert results.total >= 0


def test_ties_are_broken_by_key() -> None:
    """Documents with identical scores are ordered by key."""
    docs = [doc(key, title="parking permit") for key in ("c", "a", "d", "b")]
    index = SearchIndex(docs)
    results = index.search("parking", language="en")
    assert keys(results) == ["a", "b", "c", "d"]
    assert len({hit.score for hit in results.hits}) == 1


def test_ties_at_page_boundary_are_broken_by_key() -> None:
    """Paging through tied results yields every key exactly once, in key order."""
    index = SearchIndex([doc(f"k{i:02d}", title="parking") for i in range(30)])
    pages = [
        keys(index.search("parking", language="en", limit=7, offset=o)) for o in range(0, 35, 7)
    ]
    assert [key for page in pages for key in page] == [f"k{i:02d}" for i in range(30)]


def test_results_do_not_depend_on_input_order() -> None:
    """Building from shuffled documents gives identical results and scores."""
    shuffled = list(CATALOGUE)
    random.Random(3).shuffle(shuffled)
    first, second = SearchIndex(CATALOGUE), SearchIndex(shuffled)
    for query, language in [("council tax", "en"), ("renew permit", "en"), ("dreth", "cy")]:
        assert first.search(query, language=language) == second.search(query, language=language)


def test_repeated_searches_are_identical(index: SearchIndex) -> None:
    """The same query always gives the same page."""
    runs = [index.search("parking permits renew", language="en") for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


def test_pagination_offset_limit_and_total() -> None:
    """Offset and limit select a page; total counts all matches."""
    index = SearchIndex([doc(f"s{i:02d}", title="council", body="x " * i) for i in range(25)])
    everything = index.search("council", language="en", limit=100)
    assert everything.total == 25 and len(everything.hits) == 25
    page = index.search("council", language="en", limit=10, offset=10)
    assert page.total == 25
    assert keys(page) == keys(everything)[10:20]
    assert (
        keys(index.search("council", language="en", limit=10, offset=20)) == keys(everything)[20:]
    )
    assert index.search("council", language="en", limit=10, offset=30).hits == []
    assert index.search("council", language="en", limit=0).hits == []
    assert index.search("council", language="en", limit=0).total == 25


def test_negative_paging_values_are_clamped(index: SearchIndex) -> None:
    """Negative limit returns no hits and negative offset starts at the beginning."""
    assert index.search("council", language="en", limit=-3).hits == []
    assert keys(index.search("council", language="en", offset=-3)) == keys(
        index.search("council", language="en")
    )


def test_matched_terms_report_corrected_terms(index: SearchIndex) -> None:
    """Hits list the query terms they matched, using corrected spellings."""
    results = index.search("housng rent", language="en")
    top = results.hits[0]
    assert top.key == "service:housing-benefit"
    assert top.matched_terms == ("housing", "rent")


def test_empty_index_is_searchable() -> None:
    """An index without documents returns empty results."""
    assert SearchIndex([]).search("anything", language="en").total == 0
