"""Small comparisons of plate texts, shared by tracking (association), the still-photo
evaluation and the replay's scoring, so none of them borrows from another."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions, each costing 1."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def text_similarity(a: str, b: str) -> float:
    """1 for equal texts, 0 for nothing in common (normalised edit distance)."""
    if not a and not b:
        return 1.0
    return 1.0 - edit_distance(a, b) / max(len(a), len(b))


def fold(text: str) -> str:
    """O and 0 counted equal (the openalpr labels sometimes write O for zero)."""
    return text.replace("O", "0")
