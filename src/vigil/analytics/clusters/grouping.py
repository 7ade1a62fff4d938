"""Grouping similar texts with bounded memory: the math behind
:func:`vigil.analytics.clusters.service.analyse`, free of the database.

Two steps over L2-normalised TF-IDF rows (cosine similarity is their dot product):

1. :func:`components`: the connected components of the graph joining rows at cosine >=
   ``similarity``. The graph is never stored: products of row blocks against the matrix
   are thresholded and folded into the component labels block by block, so memory is one
   block (``BLOCK_CELLS`` similarities) plus a few arrays of one entry per row, however many
   edges there are (one large wave of near-copies has about n² of them).
2. :func:`split`: a component is only a candidate. A few edited copies half-way between two
   scam templates join the two waves into one component; average-linkage clustering inside
   it keeps the waves apart (a copy joins the side it is closer to on average), so neither
   the merged blob nor nothing at all comes out. Linkage needs all pairwise distances, so it
   runs on at most ``LINK_ROWS`` rows of a component; the other rows join the part whose
   centre they are nearest, when that is within ``similarity``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# Similarities computed at once (float64: 16 MB a block).
BLOCK_CELLS = 2_000_000
# Distinct texts average linkage runs on per component (a dense square: 1,500² float64 is
# 18 MB, and its condensed copy half that).
LINK_ROWS = 1_500
_EPS = 1e-9


def _block_rows(n: int, cells: int = BLOCK_CELLS) -> int:
    return max(1, cells // max(n, 1))


def components(
    matrix: csr_matrix, similarity: float, *, block_cells: int = BLOCK_CELLS
) -> list[list[int]]:
    """Connected components at cosine >= ``similarity``, largest first, then by first row;
    ``block_cells`` similarities are computed at a time."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = matrix.shape[0]
    if n == 0:
        return []
    labels = np.arange(n)
    transposed = matrix.T.tocsc()
    step = _block_rows(n, block_cells)
    for start in range(0, n, step):
        block = np.asarray((matrix[start : start + step] @ transposed).todense())
        rows, cols = np.nonzero(block >= similarity - _EPS)
        del block
        rows = rows + start
        # The components so far (every row tied to its label's row) plus this block's
        # edges: exact, and at most one block of edges in memory.
        heads = np.concatenate([np.arange(n), rows])
        tails = np.concatenate([labels, cols])
        graph = coo_matrix((np.ones(len(heads), dtype=np.int8), (heads, tails)), shape=(n, n))
        _, found = connected_components(graph, directed=False)
        # Relabel each component by its first row, so the fold is a fixed point.
        first = np.full(found.max() + 1, n)
        np.minimum.at(first, found, np.arange(n))
        labels = first[found]
    groups: dict[int, list[int]] = {}
    for row, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(row)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def centroid(matrix: csr_matrix) -> Any:
    import numpy as np

    mean = np.asarray(matrix.mean(axis=0)).ravel()
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean


def _linkage(sub: csr_matrix, link_similarity: float) -> list[int]:
    """Average-linkage labels of ``sub``'s rows, cut where the mean similarity between two
    parts falls below ``link_similarity``."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if sub.shape[0] == 1:
        return [1]
    distances = 1.0 - np.asarray((sub @ sub.T).todense())
    np.clip(distances, 0.0, 2.0, out=distances)
    np.fill_diagonal(distances, 0.0)
    condensed = squareform(distances, checks=False)
    del distances
    tree = linkage(condensed, method="average")
    return [int(x) for x in fcluster(tree, t=1.0 - link_similarity + _EPS, criterion="distance")]


def split(
    matrix: csr_matrix, rows: list[int], similarity: float, link_similarity: float
) -> list[list[int]]:
    """The parts of component ``rows`` whose members are, on average, at least
    ``link_similarity`` alike; largest first, then by first row. Every part of one row is a
    part too (the caller drops parts too small to count)."""
    import numpy as np

    if len(rows) <= LINK_ROWS:
        sample = rows
    else:
        # Evenly spaced over the component (rows are in order of first appearance, newest
        # first), so every period of a long wave is represented; deterministic.
        picks = np.linspace(0, len(rows) - 1, LINK_ROWS).round().astype(int)
        sample = [rows[i] for i in sorted(set(picks.tolist()))]
    labels = _linkage(matrix[sample], link_similarity)
    parts: dict[int, list[int]] = {}
    for row, label in zip(sample, labels, strict=True):
        parts.setdefault(label, []).append(row)
    if len(sample) < len(rows):
        ordered = list(parts.values())
        centres = np.vstack([centroid(matrix[p]) for p in ordered])
        chosen = set(sample)
        rest = [r for r in rows if r not in chosen]
        step = _block_rows(len(ordered))
        for start in range(0, len(rest), step):
            chunk = rest[start : start + step]
            scores = np.asarray(matrix[chunk] @ centres.T)
            best = scores.argmax(axis=1)
            for row, k, score in zip(chunk, best, scores.max(axis=1), strict=True):
                if score >= similarity - _EPS:
                    ordered[int(k)].append(row)
        out = [sorted(p) for p in ordered]
    else:
        out = [sorted(p) for p in parts.values()]
    return sorted(out, key=lambda g: (-len(g), g[0]))
