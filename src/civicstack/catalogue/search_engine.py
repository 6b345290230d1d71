# SPDX-License-Identifier: EUPL-1.2
"""In-memory full-text search engine for the service catalogue.

The engine is pure Python (standard library only) and database independent: the
Django layer feeds it plain :class:`SearchDocument` objects and the index is
built entirely in memory, so ranking is identical on SQLite, PostgreSQL or
anything else.

Features:

* BM25F ranking: per-field weights and per-field length normalisation, combined
  into one pseudo term frequency per document before BM25 saturation.
* Text normalisation: Unicode NFKD, combining marks stripped (so ``ŵ``, ``â``
  and ``ŷ`` match ``w``, ``a`` and ``y``), case folding, splitting on anything
  that is not a letter or digit.
* English: a small stop-word list and a conservative suffix stemmer
  (plurals, ``-ing``, ``-ed``, ``-ies``, final ``-e``).
* Welsh: a small stop-word list and initial-mutation folding (soft, nasal and
  aspirate mutations, plus h-prothesis), see :func:`welsh_radicals`.
* Typo tolerance: unknown query terms are corrected to the most frequent
  vocabulary word within Damerau-Levenshtein (optimal string alignment)
  distance 1 (terms of 4-7 characters) or 2 (8 characters or more), using a
  symmetric-deletion index.
* Search-as-you-type: the last query term also matches as a prefix, at
  reduced weight.

Only :class:`SearchIndex`, :class:`SearchDocument`, :class:`SearchHit` and
:class:`SearchResults` are meant to be used by the rest of the platform.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_FIELD_WEIGHTS",
    "SearchDocument",
    "SearchHit",
    "SearchIndex",
    "SearchResults",
    "normalise_text",
    "stem_english",
    "welsh_radicals",
]

DEFAULT_FIELD_WEIGHTS: Mapping[str, float] = {
    "title": 4.0,
    "keywords": 3.0,
    "summary": 2.0,
    "body": 1.0,
}
"""Field weights used when the caller does not supply any."""

#: Weight of a field that is present in a document but absent from the weights.
_UNKNOWN_FIELD_WEIGHT = 1.0
#: Multiplier applied to matches obtained through prefix expansion.
_PREFIX_WEIGHT = 0.5
#: Number of vocabulary words a prefix may expand to (most frequent first).
_MAX_PREFIX_EXPANSIONS = 12
#: Shortest last query term that is expanded as a prefix.
_MIN_PREFIX_LENGTH = 3
#: Shortest query term that is eligible for typo correction.
_MIN_CORRECTION_LENGTH = 4
#: Length from which two edits (instead of one) are tolerated.
_TWO_EDIT_LENGTH = 8
#: Longest query term that is eligible for typo correction.
_MAX_CORRECTION_LENGTH = 32
#: Tokens longer than this are dropped, both when indexing and when querying.
_MAX_TOKEN_LENGTH = 64
#: Only this many leading characters of a query are looked at.
_MAX_QUERY_CHARS = 2048
#: Only this many distinct terms of a query are used.
_MAX_QUERY_TERMS = 16
#: Bound on the per-language prefix-expansion cache.
_PREFIX_CACHE_SIZE = 4096

# ---------------------------------------------------------------------------
# Public data types
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchDocument:
    """One indexable document: a catalogue entry in one language.

    ``key`` identifies the entry (for example ``"service:renew-driving-licence"``)
    and must be unique per language; ``language`` is a language code such as
    ``"en"`` or ``"cy"`` (regional suffixes such as ``"en-GB"`` are ignored);
    ``fields`` maps field names (``title``, ``summary``...) to plain text.
    """

    key: str
    language: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class SearchHit:
    """One ranked result.

    ``matched_terms`` lists the (possibly corrected) normalised query terms that
    the document matched, in query order.
    """

    key: str
    score: float
    matched_terms: tuple[str, ...]


@dataclass(frozen=True)
class SearchResults:
    """One page of results plus the information needed to render it.

    ``total`` counts every matching document (not just this page) and
    ``corrections`` maps each normalised query term that was not in the
    vocabulary to the word it was corrected to.
    """

    total: int
    hits: list[SearchHit] = field(default_factory=list)
    corrections: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Normalisation and tokenising
# ---------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[^\W_]+")


class _CombiningMarkStripper(dict[int, int | None]):
    """Translation table that deletes combining marks, filled on demand."""

    def __missing__(self, codepoint: int) -> int | None:
        """Decide, and remember, whether ``codepoint`` is kept."""
        value = None if unicodedata.combining(chr(codepoint)) else codepoint
        self[codepoint] = value
        return value


_STRIP_COMBINING = _CombiningMarkStripper()


# The combining-diacritics blocks cover Latin-script text (including Welsh);
# anything left over goes through the complete, slower translation table.
_COMMON_COMBINING_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff]+")


def normalise_text(text: str) -> str:
    """Return ``text`` decomposed (NFKD), without combining marks, case-folded."""
    if text.isascii():
        return text.lower()
    text = _COMMON_COMBINING_RE.sub("", unicodedata.normalize("NFKD", text))
    if not text.isascii():
        text = text.translate(_STRIP_COMBINING)
    return text.casefold()


# Fast path for (normalised) ASCII text, equivalent to _TOKEN_RE there: every
# ASCII character that is not a letter or digit becomes a space.
_ASCII_SEPARATORS = {code: " " for code in range(128) if not chr(code).isalnum()}


def _raw_tokens(text: str) -> list[str]:
    """Split normalised ``text`` into letter/digit runs, dropping absurdly long ones."""
    text = normalise_text(text)
    tokens: list[str]
    if text.isascii():
        tokens = text.translate(_ASCII_SEPARATORS).split()
    else:
        tokens = _TOKEN_RE.findall(text)
    if tokens and max(map(len, tokens)) > _MAX_TOKEN_LENGTH:
        tokens = [token for token in tokens if len(token) <= _MAX_TOKEN_LENGTH]
    return tokens


# ---------------------------------------------------------------------------
# English
# ---------------------------------------------------------------------------

# fmt: off
_ENGLISH_STOP_WORDS = frozenset(
    {
        "a", "about", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "but",
        "by", "can", "could", "did", "do", "does", "during", "for", "from", "had", "has", "have",
        "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on",
        "or", "our", "s", "should", "so", "t", "than", "that", "the", "their", "them", "then",
        "there", "these", "they", "this", "those", "to", "us", "was", "we", "were", "what",
        "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you",
        "your",
    }
)
# fmt: on

_VOWELS = frozenset("aeiou")
_PLURAL_EXCEPTIONS = frozenset({"news", "always", "perhaps", "series", "species", "whereas"})


def _consonant_pattern(word: str) -> str:
    """Return a ``c``/``v`` pattern of ``word`` (``y`` after a consonant is a vowel)."""
    out: list[str] = []
    for i, ch in enumerate(word):
        if ch in _VOWELS or (ch == "y" and i > 0 and out[i - 1] == "c"):
            out.append("v")
        else:
            out.append("c")
    return "".join(out)


def _measure(word: str) -> int:
    """Return Porter's measure *m*: the number of vowel-consonant sequences."""
    return _consonant_pattern(word).count("vc")


def _ends_cvc(word: str) -> bool:
    """Return whether ``word`` ends consonant-vowel-consonant (last not w, x, y)."""
    return len(word) >= 3 and word[-1] not in "wxy" and _consonant_pattern(word).endswith("cvc")


def _has_vowel(word: str) -> bool:
    """Return whether ``word`` contains a vowel (Porter's ``*v*`` condition)."""
    return "v" in _consonant_pattern(word)


def _strip_verb_suffix(base: str) -> str:
    """Tidy a stem whose ``-ing``/``-ed`` suffix was removed (Porter step 1b)."""
    if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "aeiouylsz":
        return base[:-1]
    if _measure(base) == 1 and _ends_cvc(base):
        return base + "e"
    return base


def stem_english(word: str) -> str:
    """Reduce a normalised English word to a conservative stem.

    Only inflectional suffixes are handled (plural ``-s``/``-es``/``-ies``,
    ``-ing``, ``-ed``/``-ied``) followed by Porter's final-``e`` rule, so that
    ``licences``/``licence``, ``renewing``/``renew``, ``housing``/``houses`` and
    ``permits``/``permit`` share a stem while ``care`` and ``car`` do not.
    Words with digits and words of three letters or fewer are left alone.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    # Plurals and third person singular.
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("xes", "ches", "shes", "zzes")):
        word = word[:-2]
    elif (
        word.endswith("s")
        and not word.endswith(("ss", "us", "is"))
        and word not in _PLURAL_EXCEPTIONS
    ):
        word = word[:-1]
    # Verb inflections.
    if word.endswith("ing") and len(word) >= 6 and _has_vowel(word[:-3]):
        word = _strip_verb_suffix(word[:-3])
    elif word.endswith("ied") and len(word) > 4:
        word = word[:-3] + "y"
    elif (
        word.endswith("ed")
        and not word.endswith("eed")
        and len(word) >= 5
        and _has_vowel(word[:-2])
    ):
        word = _strip_verb_suffix(word[:-2])
    # Final -e (Porter step 5a), kept on -ee words such as "employee".
    if word.endswith("e") and not word.endswith("ee") and len(word) >= 5:
        base = word[:-1]
        measure = _measure(base)
        if measure > 1 or (measure == 1 and not _ends_cvc(base)):
            word = base
    return word


# ---------------------------------------------------------------------------
# Welsh
# ---------------------------------------------------------------------------

# fmt: off
_WELSH_STOP_WORDS = frozenset(
    {
        "a", "ac", "ag", "am", "ar", "at", "beth", "ble", "bod", "chi", "dan", "dros", "drwy",
        "dy", "e", "ef", "ei", "eich", "ein", "eu", "fe", "fi", "fo", "fy", "gan", "gyda",
        "hefyd", "hi", "hon", "hwn", "hwy", "hyn", "hynny", "i", "mae", "n", "neu", "ni", "nhw",
        "o", "oedd", "ond", "os", "pan", "pa", "pwy", "r", "sut", "sy", "sydd", "wedi", "y",
        "ydy", "ydych", "ym", "yn", "yng", "yr", "yw",
    }
)
# fmt: on

_WELSH_VOWELS = frozenset("aeiouwy")

# Surface initial -> radical initials it may come from. Order matters: longer
# initials first so that "ngh" is not read as "ng" + "h", "dd" not as "d"...
# Mutations covered (radical -> mutated):
#   soft:     p>b t>d c>g b>f d>dd g>(dropped) m>f ll>l rh>r
#   nasal:    p>mh t>nh c>ngh b>m d>n g>ng
#   aspirate: p>ph t>th c>ch
# plus the h- prefixed to vowel-initial words after "ei" (her), "ein", "eu".
_WELSH_DEMUTATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ngh", ("c",)),
    ("ng", ("g",)),
    ("mh", ("p",)),
    ("nh", ("t",)),
    ("ph", ("p",)),
    ("th", ("t",)),
    ("ch", ("c",)),
    ("dd", ("d",)),
    ("ff", ()),
    ("ll", ()),
    ("rh", ()),
    ("b", ("p",)),
    ("d", ("t",)),
    ("g", ("c",)),
    ("f", ("b", "m")),
    ("l", ("ll",)),
    ("r", ("rh",)),
    ("m", ("b",)),
    ("n", ("d",)),
)


def welsh_radicals(word: str) -> tuple[str, ...]:
    """Return ``word`` followed by every radical form it could be a mutation of.

    Examples: ``"nhrwydded"`` -> ``("nhrwydded", "trwydded")``; ``"fathodyn"`` ->
    ``("fathodyn", "bathodyn", "mathodyn")``; ``"wasanaeth"`` ->
    ``("wasanaeth", "gwasanaeth")`` (soft mutation drops a radical ``g``).

    The surface form is always kept first because it may itself be the
    radical (``"dal"``, ``"gwaith"``) or a loan word. Only one mutation is
    undone: Welsh never stacks them. Candidates shorter than two letters are
    not produced.
    """
    if len(word) < 2 or not word[0].isalpha():
        return (word,)
    out = [word]
    for initial, radicals in _WELSH_DEMUTATIONS:
        if word.startswith(initial):
            rest = word[len(initial) :]
            for radical in radicals:
                candidate = radical + rest
                if len(candidate) >= 2 and candidate not in out:
                    out.append(candidate)
            return tuple(out)
    if word[0] in _WELSH_VOWELS:
        out.append("g" + word)
    elif word[0] == "h" and len(word) >= 3 and word[1] in _WELSH_VOWELS:
        out.append(word[1:])
    return tuple(out)


# ---------------------------------------------------------------------------
# Analysers
# ---------------------------------------------------------------------------


class _Analyser:
    """Language-specific tokenising and term mapping (generic: no stemming).

    Two notions are kept apart: *surface words* are normalised tokens as they
    appear in text (used for typo correction, prefix expansion and reporting)
    and *index keys* are what postings are stored under (stems in English,
    radical candidates in Welsh).
    """

    stop_words: frozenset[str] = frozenset()

    def __init__(self) -> None:
        """Create an analyser with an empty key cache."""
        self._key_cache: dict[str, tuple[str, ...]] = {}

    def surface_words(self, text: str) -> list[str]:
        """Return the surface words of ``text`` with stop words removed."""
        stop = self.stop_words
        return [tok for tok in _raw_tokens(text) if tok not in stop]

    def keys(self, surface: str) -> tuple[str, ...]:
        """Return the index keys of a surface word (cached)."""
        cached = self._key_cache.get(surface)
        if cached is None:
            cached = self._compute_keys(surface)
            if len(self._key_cache) < 200_000:
                self._key_cache[surface] = cached
        return cached

    def variants(self, surface: str) -> tuple[str, ...]:
        """Return surface forms worth trying when correcting or expanding ``surface``."""
        return (surface,)

    def _compute_keys(self, surface: str) -> tuple[str, ...]:
        """Compute the index keys of a surface word."""
        return (surface,)


class _EnglishAnalyser(_Analyser):
    """English: stop words and :func:`stem_english`."""

    stop_words = _ENGLISH_STOP_WORDS

    def _compute_keys(self, surface: str) -> tuple[str, ...]:
        """Stem the word."""
        return (stem_english(surface),)


class _WelshAnalyser(_Analyser):
    """Welsh: stop words and initial-mutation folding.

    Design choice: every surface word is indexed under *all* of its radical
    candidates (:func:`welsh_radicals`, which includes the surface form) and a
    query word is looked up under all of its candidates too; a document
    matches when the two candidate sets intersect, i.e. when both words could
    be forms of one radical. The alternative, mapping every word to one
    canonical class (say p/b/f/m/mh/ph -> one symbol), is transitive and so
    over-merges badly: ``pen``, ``ben``, ``men`` and ``fen`` would all become
    one term, and because soft mutation drops ``g`` every vowel-initial word
    would merge with ``g``- and ``c``-words. Candidate sets are not
    transitive: ``pen`` matches ``ben`` (soft) but not ``men`` (nasal of
    ``ben``, never of ``pen``). Indexing the surface form as a key as well lets
    an exactly typed mutated word score a little higher (its key is rarer).
    The cost is roughly twice the postings for Welsh, which is acceptable.
    """

    stop_words = _WELSH_STOP_WORDS

    def _compute_keys(self, surface: str) -> tuple[str, ...]:
        """Return the surface word and its radical candidates."""
        return welsh_radicals(surface)

    def variants(self, surface: str) -> tuple[str, ...]:
        """Return the surface word and its radical candidates."""
        return welsh_radicals(surface)


def _primary_language(language: str) -> str:
    """Reduce ``"en-GB"``/``"cy_GB"``/``"EN"`` to ``"en"``/``"cy"``/``"en"``."""
    return language.strip().casefold().replace("_", "-").split("-", 1)[0]


def _make_analyser(language: str) -> _Analyser:
    """Return the analyser for a primary language code."""
    if language == "en":
        return _EnglishAnalyser()
    if language == "cy":
        return _WelshAnalyser()
    return _Analyser()


# ---------------------------------------------------------------------------
# Edit distance helpers
# ---------------------------------------------------------------------------


def _deletes1(word: str) -> Iterator[str]:
    """Yield every string obtained by deleting one character of ``word``."""
    for i in range(len(word)):
        yield word[:i] + word[i + 1 :]


def _edits1(word: str, alphabet: str) -> set[str]:
    """Return every string one Damerau edit away from ``word``."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {left + right[1:] for left, right in splits if right}
    out.update(left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1)
    out.update(left + ch + right[1:] for left, right in splits if right for ch in alphabet)
    out.update(left + ch + right for left, right in splits for ch in alphabet)
    out.discard(word)
    return out


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Return the optimal-string-alignment distance, or ``limit + 1`` if larger."""
    if a == b:
        return 0
    # Common prefixes and suffixes do not affect the distance.
    start = 0
    shortest = min(len(a), len(b))
    while start < shortest and a[start] == b[start]:
        start += 1
    a, b = a[start:], b[start:]
    while a and b and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    len_a, len_b = len(a), len(b)
    if abs(len_a - len_b) > limit:
        return limit + 1
    if not len_a or not len_b:
        return max(len_a, len_b)
    before: list[int] = []
    previous = list(range(len_b + 1))
    for i in range(1, len_a + 1):
        char_a = a[i - 1]
        current = [i] + [0] * len_b
        row_min = i
        for j in range(1, len_b + 1):
            char_b = b[j - 1]
            value = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (char_a != char_b),
            )
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                value = min(value, before[j - 2] + 1)
            current[j] = value
            row_min = min(row_min, value)
        if row_min > limit:
            return limit + 1
        before, previous = previous, current
    return previous[len_b] if previous[len_b] <= limit else limit + 1


# ---------------------------------------------------------------------------
# Per-language index
# ---------------------------------------------------------------------------

#: A query term resolved to index keys: (label, [(term id, multiplier), ...]).
_Group = tuple[str, list[tuple[int, float]]]


class _LanguageIndex:
    """Postings, vocabulary and correction structures for one language."""

    def __init__(
        self,
        documents: list[SearchDocument],
        analyser: _Analyser,
        field_weights: Mapping[str, float],
        k1: float,
        b: float,
    ) -> None:
        """Build the index from documents that all share one language."""
        self.analyser = analyser
        documents = sorted(documents, key=lambda doc: doc.key)
        # Internal document ids follow key order, so ties broken by id are
        # ties broken by key.
        self.doc_keys: list[str] = [doc.key for doc in documents]
        for previous, current in zip(self.doc_keys, self.doc_keys[1:], strict=False):
            if previous == current:
                raise ValueError(f"duplicate search document key {current!r}")
        self.term_ids: dict[str, int] = {}
        self.postings_docs: list[array[int]] = []
        self.postings_weights: list[array[float]] = []
        self.surface_df: dict[str, int] = {}
        self._build_postings(documents, field_weights, k1, b)
        self.sorted_surfaces: list[str] = sorted(self.surface_df)
        self.deletes: dict[str, list[str]] = {}
        self._build_deletion_index()
        letters = Counter(ch for word in self.surface_df for ch in word if ch.isalpha())
        self.alphabet = "".join(sorted(ch for ch, _count in letters.most_common(40)))
        self._prefix_cache: dict[str, list[tuple[int, float]]] = {}

    # -- building ---------------------------------------------------------

    def _build_postings(
        self,
        documents: list[SearchDocument],
        field_weights: Mapping[str, float],
        k1: float,
        b: float,
    ) -> None:
        """Tokenise every document and fill the postings with BM25F weights."""
        analyser = self.analyser
        # Collection frequency of each surface word, used to prefer common
        # words when correcting typos and expanding prefixes.
        frequency: Counter[str] = Counter()
        per_doc: list[list[tuple[float, str, int, Counter[str]]]] = []
        length_totals: Counter[str] = Counter()
        for doc in documents:
            fields: list[tuple[float, str, int, Counter[str]]] = []
            for name, text in doc.fields.items():
                weight = field_weights.get(name, _UNKNOWN_FIELD_WEIGHT)
                if weight <= 0 or not text:
                    continue
                words = analyser.surface_words(text)
                if not words:
                    continue
                frequency.update(words)
                fields.append((weight, name, len(words), Counter(words)))
                length_totals[name] += len(words)
            per_doc.append(fields)
        self.surface_df = dict(frequency)

        # Postings are appended in document order; a word seen in several
        # fields of one document (or several surface words sharing a key)
        # adds to the last posting instead of creating a new one.
        doc_count = len(documents)
        average = {name: total / doc_count for name, total in length_totals.items()}
        term_ids = self.term_ids
        postings_docs = self.postings_docs
        postings_tfs = self.postings_weights
        last_doc: list[int] = []
        key_id_cache: dict[str, tuple[int, ...]] = {}
        for doc_id, fields in enumerate(per_doc):
            for weight, name, length, counts in fields:
                norm = weight / (1.0 - b + b * length / average[name])
                for word, count in counts.items():
                    ids = key_id_cache.get(word)
                    if ids is None:
                        id_list: list[int] = []
                        for key in analyser.keys(word):
                            term_id = term_ids.get(key)
                            if term_id is None:
                                term_id = term_ids[key] = len(postings_docs)
                                postings_docs.append(array("i"))
                                postings_tfs.append(array("d"))
                                last_doc.append(-1)
                            id_list.append(term_id)
                        ids = key_id_cache[word] = tuple(id_list)
                    value = count * norm
                    for term_id in ids:
                        if last_doc[term_id] == doc_id:
                            postings_tfs[term_id][-1] += value
                        else:
                            last_doc[term_id] = doc_id
                            postings_docs[term_id].append(doc_id)
                            postings_tfs[term_id].append(value)
        # Saturate the pseudo term frequencies and fold in the IDF once, so a
        # query only has to add precomputed weights.
        saturation = k1 + 1.0
        for term_id, docs in enumerate(postings_docs):
            df = len(docs)
            idf = math.log(1.0 + (doc_count - df + 0.5) / (df + 0.5))
            scale = idf * saturation
            postings_tfs[term_id] = array(
                "d", [scale * tf / (k1 + tf) for tf in postings_tfs[term_id]]
            )

    def _build_deletion_index(self) -> None:
        """Index every correctable word under itself and its one-deletion variants."""
        deletes = self.deletes
        for word in self.sorted_surfaces:
            if len(word) < _MIN_CORRECTION_LENGTH - 1 or not word.isalpha():
                continue
            for variant in (word, *_deletes1(word)):
                bucket = deletes.get(variant)
                if bucket is None:
                    deletes[variant] = [word]
                elif bucket[-1] != word:
                    bucket.append(word)

    # -- query helpers ----------------------------------------------------

    def exact_ids(self, surface: str) -> list[int]:
        """Return the term ids a surface word is looked up under."""
        term_ids = self.term_ids
        found: list[int] = []
        for key in self.analyser.keys(surface):
            term_id = term_ids.get(key)
            if term_id is not None and term_id not in found:
                found.append(term_id)
        return found

    def prefix_ids(self, prefix: str) -> list[tuple[int, float]]:
        """Return (term id, multiplier) pairs for the words ``prefix`` may start."""
        cached = self._prefix_cache.get(prefix)
        if cached is not None:
            return cached
        surfaces = self.sorted_surfaces
        df = self.surface_df
        matches: set[str] = set()
        for variant in self.analyser.variants(prefix):
            start = bisect_left(surfaces, variant)
            end = bisect_left(surfaces, variant + "\U0010ffff", start)
            if end - start > _MAX_PREFIX_EXPANSIONS:
                matches.update(
                    heapq.nsmallest(
                        _MAX_PREFIX_EXPANSIONS,
                        surfaces[start:end],
                        key=lambda word: (-df[word], word),
                    )
                )
            else:
                matches.update(surfaces[start:end])
        result: list[tuple[int, float]] = []
        seen: set[int] = set()
        for word in sorted(matches, key=lambda word: (-df[word], word)):
            for term_id in self.exact_ids(word):
                if term_id not in seen:
                    seen.add(term_id)
                    result.append((term_id, _PREFIX_WEIGHT))
        if len(self._prefix_cache) >= _PREFIX_CACHE_SIZE:
            self._prefix_cache.clear()
        self._prefix_cache[prefix] = result
        return result

    def correct(self, term: str) -> str | None:
        """Return the best vocabulary word for an unknown ``term``, if any."""
        if not (_MIN_CORRECTION_LENGTH <= len(term) <= _MAX_CORRECTION_LENGTH):
            return None
        if not term.isalpha():
            return None
        limit = 1 if len(term) < _TWO_EDIT_LENGTH else 2
        best: tuple[int, int, str] | None = None
        for variant in self.analyser.variants(term):
            found = self._closest(variant, limit)
            if found is not None and (best is None or found < best):
                best = found
        return None if best is None else best[2]

    def _closest(self, term: str, limit: int) -> tuple[int, int, str] | None:
        """Return ``(distance, -df, word)`` of the best word within ``limit`` edits."""
        deletes = self.deletes
        candidates: set[str] = set()
        for variant in (term, *_deletes1(term)):
            bucket = deletes.get(variant)
            if bucket is not None:
                candidates.update(bucket)
        best = self._best_candidate(term, candidates, 1)
        if best is not None or limit < 2:
            return best
        # Distance two: the deletion index holds single deletions only (a
        # double-deletion index is ~4x larger), so expand the query by one edit
        # and look each expansion up with single deletions. Only long unknown
        # terms get here.
        candidates = set()
        for edited in _edits1(term, self.alphabet):
            bucket = deletes.get(edited)
            if bucket is not None:
                candidates.update(bucket)
            for variant in _deletes1(edited):
                bucket = deletes.get(variant)
                if bucket is not None:
                    candidates.update(bucket)
        return self._best_candidate(term, candidates, 2)

    def _best_candidate(
        self, term: str, candidates: set[str], limit: int
    ) -> tuple[int, int, str] | None:
        """Return the closest, then most frequent, then first candidate within ``limit``."""
        df = self.surface_df
        best: tuple[int, int, str] | None = None
        for word in candidates:
            if abs(len(word) - len(term)) > limit:
                continue
            distance = _osa_distance(term, word, limit)
            if distance <= limit:
                rank = (distance, -df[word], word)
                if best is None or rank < best:
                    best = rank
        return best

    def contains(self, term_id: int, doc_id: int) -> bool:
        """Return whether ``doc_id`` is in the postings of ``term_id``."""
        docs = self.postings_docs[term_id]
        position = bisect_left(docs, doc_id)
        return position < len(docs) and docs[position] == doc_id

    # -- searching --------------------------------------------------------

    def search(self, query: str, limit: int, offset: int) -> SearchResults:
        """Run ``query`` against this language's documents."""
        groups, corrections = self._resolve(query)
        if not groups:
            return SearchResults(total=0, hits=[], corrections=corrections)
        scores = self._score(groups)
        total = len(scores)
        wanted = offset + limit
        if wanted <= 0 or offset >= total:
            return SearchResults(total=total, hits=[], corrections=corrections)
        if wanted < total:
            # Everything scoring at least the wanted-th best score, so exact
            # ties at the page boundary are still ordered by key.
            threshold = heapq.nlargest(wanted, scores.values())[-1]
            ranked = [(doc, score) for doc, score in scores.items() if score >= threshold]
        else:
            ranked = list(scores.items())
        ranked.sort(key=lambda item: (-item[1], item[0]))
        hits = [
            SearchHit(
                key=self.doc_keys[doc_id],
                score=score,
                matched_terms=tuple(
                    label
                    for label, ids in groups
                    if any(self.contains(term_id, doc_id) for term_id, _mult in ids)
                ),
            )
            for doc_id, score in ranked[offset:wanted]
        ]
        return SearchResults(total=total, hits=hits, corrections=corrections)

    def _resolve(self, query: str) -> tuple[list[_Group], dict[str, str]]:
        """Turn a query into term groups, correcting unknown terms."""
        words = self.analyser.surface_words(query[:_MAX_QUERY_CHARS])
        corrections: dict[str, str] = {}
        if not words:
            return [], corrections
        typing = words[-1]
        terms = list(dict.fromkeys(words))[:_MAX_QUERY_TERMS]
        groups: list[_Group] = []
        for term in terms:
            ids: dict[int, float] = dict.fromkeys(self.exact_ids(term), 1.0)
            prefix: list[tuple[int, float]] = []
            if term == typing and len(term) >= _MIN_PREFIX_LENGTH:
                prefix = self.prefix_ids(term)
            label = term
            if not ids and not prefix:
                corrected = self.correct(term)
                if corrected is None:
                    continue
                corrections[term] = corrected
                label = corrected
                ids = dict.fromkeys(self.exact_ids(corrected), 1.0)
            for term_id, multiplier in prefix:
                if ids.get(term_id, 0.0) < multiplier:
                    ids[term_id] = multiplier
            if ids:
                groups.append((label, list(ids.items())))
        return groups, corrections

    def _score(self, groups: list[_Group]) -> dict[int, float]:
        """Sum BM25F contributions per document over the query's term groups.

        A term group with several keys (Welsh radical candidates, prefix
        expansions) contributes the best of its keys per document, not the
        sum, so one word is never counted twice.
        """
        postings_docs = self.postings_docs
        postings_weights = self.postings_weights
        scores: dict[int, float] = {}
        contribution: Iterable[tuple[int, float]]
        for _label, ids in groups:
            if len(ids) == 1 and ids[0][1] == 1.0:
                term_id = ids[0][0]
                contribution = zip(postings_docs[term_id], postings_weights[term_id], strict=True)
                if not scores:
                    scores = dict(contribution)
                    continue
            else:
                best: dict[int, float] = {}
                best_get = best.get
                for term_id, multiplier in ids:
                    docs = postings_docs[term_id]
                    weights = postings_weights[term_id]
                    if multiplier == 1.0:
                        for doc_id, weight in zip(docs, weights, strict=True):
                            if weight > best_get(doc_id, 0.0):
                                best[doc_id] = weight
                    else:
                        for doc_id, weight in zip(docs, weights, strict=True):
                            scaled = weight * multiplier
                            if scaled > best_get(doc_id, 0.0):
                                best[doc_id] = scaled
                if not scores:
                    scores = best
                    continue
                contribution = iter(best.items())
            get = scores.get
            for doc_id, weight in contribution:
                scores[doc_id] = get(doc_id, 0.0) + weight
        return scores


# ---------------------------------------------------------------------------
# Public index
# ---------------------------------------------------------------------------


class SearchIndex:
    """Immutable BM25F search index over catalogue documents in several languages.

    Each language gets its own vocabulary, statistics and postings, so a
    search only ever sees documents of the requested language and IDF is not
    diluted by the other language. Searching is read-only apart from a
    bounded prefix cache, so one index may be shared between threads.
    """

    def __init__(
        self,
        documents: Iterable[SearchDocument],
        field_weights: Mapping[str, float] | None = None,
        *,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        """Build the index.

        ``field_weights`` defaults to :data:`DEFAULT_FIELD_WEIGHTS`; fields
        missing from it get weight 1 and fields with weight 0 are not indexed.
        ``k1`` and ``b`` are the usual BM25 parameters. Raise ``ValueError``
        for negative or non-finite weights, bad parameters, or a key repeated
        within one language.
        """
        weights = dict(DEFAULT_FIELD_WEIGHTS if field_weights is None else field_weights)
        for name, weight in weights.items():
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"invalid weight {weight!r} for field {name!r}")
        if not math.isfinite(k1) or k1 < 0:
            raise ValueError(f"k1 must be a finite non-negative number, not {k1!r}")
        if not 0.0 <= b <= 1.0:
            raise ValueError(f"b must be between 0 and 1, not {b!r}")
        by_language: dict[str, list[SearchDocument]] = {}
        for doc in documents:
            by_language.setdefault(_primary_language(doc.language), []).append(doc)
        self._indexes: dict[str, _LanguageIndex] = {
            language: _LanguageIndex(docs, _make_analyser(language), weights, k1, b)
            for language, docs in sorted(by_language.items())
        }

    @property
    def languages(self) -> tuple[str, ...]:
        """Return the (primary) language codes that have documents."""
        return tuple(self._indexes)

    def vocabulary_size(self, language: str) -> int:
        """Return the number of distinct index terms for ``language``."""
        index = self._indexes.get(_primary_language(language))
        return 0 if index is None else len(index.term_ids)

    def search(
        self, query: str, *, language: str, limit: int = 20, offset: int = 0
    ) -> SearchResults:
        """Return one page of documents in ``language`` ranked for ``query``.

        Hits are ordered by descending score, then by key. Negative ``limit``
        or ``offset`` values are treated as zero. Any query string is
        accepted; queries with no usable terms return no hits.
        """
        index = self._indexes.get(_primary_language(language))
        if index is None:
            return SearchResults(total=0, hits=[], corrections={})
        return index.search(query, max(0, limit), max(0, offset))
