"""An online log template miner after Drain (He et al., ICWS 2017): a fixed-depth prefix tree over
masked tokens, clusters merged by token similarity. Incremental (templates appear and generalise
while streaming), persistent as versioned JSON.

Masking replaces variables that need no learning (addresses, block ids, hex, numbers, paths,
dates) with ``<*>`` before the tree sees a line, which is what makes the defaults work across
systems. Two rules (state version 2) differ from the paper: a masked variable counts neither for
nor against a line's similarity to a template (nor does a token with a masked part pick a tree
branch), and a line never joins a template that differs from it by a plain word ("Started" vs
"Stopped"): such words name different events far more often than they carry a value.

>>> miner = TemplateMiner()
>>> miner.add("Receiving block blk_123 src: /10.0.0.1:5000 dest: /10.0.0.2:50010")[1]
'Receiving block <*> src: <*> dest: <*>'
>>> miner.add("Receiving block blk_-77 src: /10.0.0.9:5000 dest: /10.0.0.3:50010")[0]  # same template
0
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InputError

DRAIN_VERSION = 2
WILDCARD = "<*>"

# Order matters: longer, more specific shapes first.
DEFAULT_MASKS: tuple[tuple[str, str], ...] = (
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("block", r"blk_-?\d+"),
    ("ip", r"/?(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?(?![\d.])"),
    ("hex", r"\b0[xX][0-9a-fA-F]+\b"),
    ("path", r"(?<![\w/])(?:/[\w.\-]+){2,}/?"),
    # account names: a value in every auth log ("Invalid user admin", "password for root")
    # (the one-character look-behind first: it rejects most positions cheaply)
    ("user", r"(?<=[rd] )(?:(?<=\buser )|(?<=\bpassword for ))(?!invalid\b)[\w.\-@$]+"),
    # weekday and month names are values of a timestamp, not words of a message
    ("date", r"\b(?=[A-Z][a-z]{2}\b)(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"),
    ("number", r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])"),
)

# a word of letters (and hyphens), perhaps one digit and sentence punctuation: "Started", "closed.",
# "SOCKS5", "re-try"
_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*\d?[.,:;]?$")


@dataclass
class Cluster:
    id: int
    tokens: list[str]
    size: int = 1

    @property
    def template(self) -> str:
        return " ".join(self.tokens)


@dataclass
class TemplateMiner:
    """Drain with ``depth`` tree levels (length + ``depth - 2`` leading tokens), similarity
    threshold ``similarity`` and at most ``max_children`` children per inner node."""

    depth: int = 4
    similarity: float = 0.5
    max_children: int = 100
    masks: tuple[tuple[str, str], ...] = DEFAULT_MASKS
    #: masked variables are neutral in similarity and tree keys (False: as in the paper, state v1)
    neutral_masks: bool = True
    #: a template and a line that differ by a plain word are different events (False: state v1)
    split_words: bool = True
    clusters: list[Cluster] = field(default_factory=list)
    _tree: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.depth < 3:
            raise InputError("Drain needs depth >= 3")
        # one alternation, one pass over the line (earlier masks win where several match)
        self._mask_re = re.compile("|".join(f"(?:{pattern})" for _, pattern in self.masks)) if self.masks else None
        # line (raw or masked) -> its cluster: a line identical to an earlier one joins the same
        # template without walking the tree (templates only ever gain wildcards, so it still fits)
        self._seen: dict[str, Cluster] = {}
        if self.clusters and not self._tree:
            for cluster in self.clusters:
                self._leaf(cluster.tokens).append(cluster)

    # -- mining ------------------------------------------------------------------------------------
    def mask(self, content: str) -> list[str]:
        if self._mask_re is not None:
            content = self._mask_re.sub(WILDCARD, content)
        return content.split()

    def add(self, content: str) -> tuple[int, str]:
        """Mine one line's content; returns (template id, template after this line)."""
        known = self._seen.get(content)  # an exact repeat skips masking too
        if known is not None:
            known.size += 1
            return known.id, known.template
        masked = self._mask_re.sub(WILDCARD, content) if self._mask_re is not None else content
        known = self._seen.get(masked)
        if known is not None:
            known.size += 1
            self._seen[content] = known
            return known.id, known.template
        tokens = masked.split()
        leaf = self._leaf(tokens)
        best = self._best(leaf, tokens)
        if best is None:
            best = Cluster(len(self.clusters), tokens)
            self.clusters.append(best)
            leaf.append(best)
        else:
            best.tokens = [t if t == u else WILDCARD for t, u in zip(best.tokens, tokens)]
            best.size += 1
        if len(self._seen) >= 200_000:  # bounded memory on endless streams
            self._seen.clear()
        self._seen[masked] = best
        self._seen[content] = best
        return best.id, best.template

    def match(self, content: str) -> tuple[int, str] | None:
        """The template a line would join, without learning from it (None: a new template)."""
        tokens = self.mask(content)
        best = self._best(self._leaf(tokens, create=False) or [], tokens)
        return None if best is None else (best.id, best.template)

    def _leaf(self, tokens: list[str], create: bool = True) -> list[Cluster] | None:
        node = self._tree.setdefault(len(tokens), {}) if create else self._tree.get(len(tokens))
        if node is None:
            return None
        for token in tokens[: self.depth - 2]:
            key = WILDCARD if any(ch.isdigit() for ch in token) or (
                self.neutral_masks and WILDCARD in token) else token
            if key not in node:
                if not create:
                    key = WILDCARD
                    if key not in node:
                        return None
                elif len(node) >= self.max_children:
                    key = WILDCARD
                node = node.setdefault(key, {}) if create else node[key]
            else:
                node = node[key]
        return node.setdefault(None, []) if create else node.get(None)

    def _best(self, leaf: list[Cluster], tokens: list[str]) -> Cluster | None:
        best, best_key = None, (-1.0, -1)
        # masked positions are variables by construction: they say nothing about which event this is
        masked = tokens.count(WILDCARD) if self.neutral_masks else 0
        compared = len(tokens) - masked
        for cluster in leaf:
            same = params = 0
            for t, u in zip(cluster.tokens, tokens):
                if t == WILDCARD:
                    params += 1
                elif t == u:
                    same += 1
                elif self.split_words and _PLAIN_WORD.match(t) and _PLAIN_WORD.match(u):
                    break
            else:
                # a line with nothing unmasked (or empty) fits a template that is all wildcards
                score = same / compared if compared else float(params == len(tokens))
                if (score, params) > best_key:
                    best, best_key = cluster, (score, params)
        return best if best is not None and best_key[0] >= self.similarity else None

    # -- persistence -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"version": DRAIN_VERSION, "depth": self.depth, "similarity": self.similarity,
                "max_children": self.max_children, "masks": [list(m) for m in self.masks],
                "neutral_masks": self.neutral_masks, "split_words": self.split_words,
                "clusters": [{"id": c.id, "tokens": c.tokens, "size": c.size} for c in self.clusters]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TemplateMiner":
        version = data.get("version")
        if version not in (1, DRAIN_VERSION):
            raise InputError(f"template state version {version!r} is not supported",
                             hint=f"versions 1 and {DRAIN_VERSION} are")
        # a version-1 state keeps the paper's rules: a trained model keeps the templates it learned with
        rules = {"neutral_masks": bool(data.get("neutral_masks", False)),
                 "split_words": bool(data.get("split_words", False))}
        clusters = [Cluster(int(c["id"]), list(c["tokens"]), int(c["size"])) for c in data["clusters"]]
        return cls(depth=int(data["depth"]), similarity=float(data["similarity"]),
                   max_children=int(data["max_children"]), masks=tuple(tuple(m) for m in data["masks"]),
                   clusters=clusters, **rules)


def grouping_accuracy(truth: list[Any], predicted: list[Any]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group
    (the Loghub parsing metric)."""
    from collections import defaultdict

    true_groups: dict[Any, set[int]] = defaultdict(set)
    pred_groups: dict[Any, set[int]] = defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, predicted)):
        true_groups[t].add(i)
        pred_groups[p].add(i)
    correct = sum(len(lines) for lines in pred_groups.values()
                  if true_groups[truth[next(iter(lines))]] == lines)
    return correct / max(len(truth), 1)
