"""Which experts a set of votes can rate at all: components and Zermelo's condition.

Why: Bradley-Terry's maximum-likelihood ratings exist (are finite) only when the directed
"won or tied against" graph is strongly connected (Zermelo 1929; Ford 1957). A group of experts
that never lost (nor tied) to the rest can be pushed up without bound; a group that never won
down. And two groups that never met, directly or through others, share no scale at all: any
offset between them fits the votes equally well. Online Elo always returns finite numbers, but
on such data they are as arbitrary, so the same flags apply to both methods.

Edges: a -> b when a won or tied at least one vote (weight > 0) against b. In each weakly
connected component the *core* is its largest strongly connected component (ties: more games,
then the first name). Every expert outside it is flagged:
- `undefeated-group`: it reaches the core but the core never reaches it (no rating bounds it
  from above);
- `winless-group`: the mirror case (nothing bounds it from below);
- `unanchored-group`: neither (in the same component but never comparable to the core).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

ABOVE, BELOW, DETACHED = "undefeated-group", "winless-group", "unanchored-group"


@dataclass(frozen=True)
class GraphReport:
    components: list[list[str]]  # weakly connected components, largest first, names sorted
    flags: dict[str, str]  # expert -> ABOVE | BELOW | DETACHED (core experts absent)


def analyse(
    experts: list[str],
    idx_a: np.ndarray,
    idx_b: np.ndarray,
    wins_a: np.ndarray,
    wins_b: np.ndarray,
    ties: np.ndarray,
) -> GraphReport:
    """Components and Zermelo flags of weighted pair counts (one row per pair of indices)."""
    n = len(experts)
    a_edge = (wins_a + ties) > 0
    b_edge = (wins_b + ties) > 0
    beats = sparse.csr_matrix(
        (
            np.ones(int(a_edge.sum() + b_edge.sum())),
            (
                np.concatenate([idx_a[a_edge], idx_b[b_edge]]),
                np.concatenate([idx_b[a_edge], idx_a[b_edge]]),
            ),
        ),
        shape=(n, n),
    )
    games = np.bincount(idx_a, wins_a + wins_b + ties, n) + np.bincount(
        idx_b, wins_a + wins_b + ties, n
    )
    _, weak = csgraph.connected_components(beats, directed=True, connection="weak")
    _, strong = csgraph.connected_components(beats, directed=True, connection="strong")
    components: list[list[str]] = []
    flags: dict[str, str] = {}
    for label in np.unique(weak):
        members = np.flatnonzero(weak == label)
        components.append(sorted(experts[i] for i in members))
        groups = np.unique(strong[members])
        core = min(
            groups,
            key=lambda g: (
                -int((strong == g).sum()),
                -float(games[strong == g].sum()),
                min(experts[i] for i in np.flatnonzero(strong == g)),
            ),
        )
        seed = int(np.flatnonzero(strong == core)[0])
        below = set(csgraph.breadth_first_order(beats, seed, directed=True)[0].tolist())
        above = set(csgraph.breadth_first_order(beats.T.tocsr(), seed, directed=True)[0].tolist())
        for i in members.tolist():
            if strong[i] == core:
                continue
            if i in above and i not in below:
                flags[experts[i]] = ABOVE
            elif i in below and i not in above:
                flags[experts[i]] = BELOW
            else:
                flags[experts[i]] = DETACHED
    components.sort(key=lambda names: (-len(names), names[0]))
    return GraphReport(components=components, flags=flags)


def describe_components(components: list[list[str]], shown: int = 5) -> str:
    """'{a, b} and {c}' with at most `shown` names per component."""

    def one(names: list[str]) -> str:
        more = f", ... (+{len(names) - shown} more)" if len(names) > shown else ""
        return "{" + ", ".join(names[:shown]) + more + "}"

    return (
        ", ".join(one(names) for names in components[:-1])
        + (" and " if len(components) > 1 else "")
        + one(components[-1])
    )
