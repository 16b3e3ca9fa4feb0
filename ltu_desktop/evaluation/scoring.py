"""Free answers -> labels -> the papers' metrics, computed as the authors' eval scripts do, on local parts.

Label mapping: the answer and every label are embedded by a local text model (mean of the last hidden states,
as their bert-large-uncased setting; a sentence-transformers folder uses its own pooling when that package is
installed), and the label with the highest summed cosine similarity over the answer's parts wins (the first on a
tie, like numpy's argmax). An answer that is exactly a label is that label without asking the model.
"""

from __future__ import annotations

import importlib.util
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.types import EngineError
from .tasks import Task

Embed = Callable[[list[str]], np.ndarray]
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_NUMBER = re.compile(r"\b(\d+(?:-\d+)?)\b")


def normalize(text: str) -> str:
    """What the authors do to a text before embedding it: no punctuation, lower case."""
    return text.translate(_PUNCTUATION).lower()


class TextEmbedder:
    """Sentence embeddings from a local folder: any BERT-style model, or a sentence-transformers model."""

    def __init__(self, path: Path, device: str = "cpu", batch_size: int = 32):
        folder = Path(path)
        if not folder.is_dir():
            raise EngineError(f"--scorer {folder} is not a folder with a text-embedding model.")
        self.batch_size = batch_size
        self._st = None
        if (folder / "modules.json").exists() and importlib.util.find_spec("sentence_transformers"):
            from sentence_transformers import SentenceTransformer

            self._st = SentenceTransformer(str(folder), device=device)
            return
        import torch
        from transformers import AutoModel, AutoTokenizer

        if not (folder / "config.json").exists() and (folder / "0_Transformer" / "config.json").exists():
            folder = folder / "0_Transformer"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            self.model = AutoModel.from_pretrained(str(folder)).to(device).eval()
        except (OSError, ValueError) as exc:
            raise EngineError(f"--scorer {path}: cannot load a text model from it ({exc}).") from exc
        self.device = torch.device(device)

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self._st is not None:
            return np.asarray(self._st.encode(texts, batch_size=self.batch_size, convert_to_numpy=True), np.float64)
        import torch

        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(texts[i:i + self.batch_size], return_tensors="pt", padding=True, truncation=True,
                                   max_length=512).to(self.device)
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(((hidden * mask).sum(1) / mask.sum(1)).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))


class LabelMapper:
    """Maps answers of one task to label indices; each distinct text is embedded once."""

    def __init__(self, labels: Sequence[str], prefix: str, embed: Embed | None):
        self.labels = list(labels)
        self.prefix = prefix
        self.embed = embed
        self._texts = [normalize(prefix + lb.replace("_", " ").lower()) for lb in self.labels]
        self._label_vectors: np.ndarray | None = None
        self._cache: dict[str, np.ndarray] = {}

    def answer_parts(self, answer: str) -> list[str]:
        return [normalize(self.prefix + answer.lower())]

    def __call__(self, parts: Sequence[str]) -> int:
        if len(parts) == 1 and parts[0] in self._texts:
            return self._texts.index(parts[0])
        if self.embed is None:
            raise EngineError("Mapping free answers to labels needs a text-embedding model: pass --scorer FOLDER.")
        if self._label_vectors is None:
            self._label_vectors = _unit(self.embed(self._texts))
        new = [p for p in dict.fromkeys(parts) if p not in self._cache]
        if new:
            self._cache |= dict(zip(new, _unit(self.embed(new))))
        score = np.zeros(len(self.labels))
        for p in parts:
            score += self._label_vectors @ self._cache[p]
        return int(np.argmax(score))

    def index_of(self, label: str) -> int | None:
        key = normalize(label.replace("_", " ").lower()).strip()
        plain = [normalize(lb.replace("_", " ").lower()).strip() for lb in self.labels]
        return plain.index(key) if key in plain else None


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def accuracy(truth: Sequence[int], pred: Sequence[int]) -> float:
    return float(np.mean(np.asarray(truth) == np.asarray(pred))) if len(truth) else float("nan")


def macro_f1(truth: Sequence[int], pred: Sequence[int]) -> float:
    """Mean F1 over the classes that occur in either list (scikit-learn's `average='macro'`)."""
    t, p = np.asarray(truth), np.asarray(pred)
    classes = sorted(set(t.tolist()) | set(p.tolist()))
    f1 = []
    for c in classes:
        tp = int(np.sum((t == c) & (p == c)))
        wrong = int(np.sum((t != c) & (p == c))) + int(np.sum((t == c) & (p != c)))
        f1.append(2 * tp / (2 * tp + wrong) if tp + wrong else 0.0)
    return float(np.mean(f1)) if f1 else float("nan")


def mean_average_precision(truth: Sequence[int], pred: Sequence[int], n_classes: int) -> float:
    """Their stats.py: average precision per class of one-hot predictions against one-hot truth, averaged over
    all classes. With 0/1 scores the precision-recall curve has two points: the predicted items (recall r,
    precision p) and everything (recall 1, precision = the class's share); a class with no true item counts 0."""
    t, p = np.asarray(truth), np.asarray(pred)
    n = len(t)
    aps = []
    for c in range(n_classes):
        positives = int(np.sum(t == c))
        if positives == 0 or n == 0:
            aps.append(0.0)
            continue
        predicted = int(np.sum(p == c))
        tp = int(np.sum((t == c) & (p == c)))
        recall = tp / positives
        precision = tp / predicted if predicted else 0.0
        aps.append(recall * precision + (1 - recall) * positives / n)
    return float(np.mean(aps)) if aps else float("nan")


def parse_age(text: str, first: bool = True) -> float | None:
    """The first number of an answer (a range "30-40" is its middle), as the authors read predicted ages."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    value = found[0] if first else found[-1]
    if "-" in value:
        a, b = value.split("-")
        return (int(a) + int(b)) / 2
    return float(value)


def is_female(text: str) -> bool:
    """Their rule: an answer or reference that says "female" anywhere is female, anything else is male."""
    return "female" in text.lower()


def spoken_text(text: str) -> str:
    """The transcript part of an answer such as "Spoken text: ..." (the authors' process_text)."""
    return text.lower().split("spoken text:")[-1].lstrip()


def word_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus WER (all edits / all reference words) after Whisper's English text normalizer."""
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    pairs = [(norm(r), norm(h)) for r, h in zip(refs, hyps)]
    pairs = [(r, h) for r, h in pairs if r.strip()]
    if not pairs:
        return float("nan")
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


@dataclass
class Scored:
    metrics: dict[str, float]  # in the report's units: % for rates, years for MAE
    counts: dict[str, int]
    items: list[dict]  # per item: index, truth, mapped prediction (or why it was not scored)


def score(task: Task, rows: Sequence[dict], labels: Sequence[str] = (), embed: Embed | None = None) -> Scored:
    """Score answered rows (`pred`, `ref`); rows without an answer are counted, not scored."""
    answered = [(i, r) for i, r in enumerate(rows) if isinstance(r.get("pred"), str) and "error" not in r]
    counts = {"items": len(rows), "answered": len(answered), "failed": len(rows) - len(answered)}
    items: list[dict] = []
    metrics: dict[str, float] = {}
    if task.kind == "labels":
        mapper = LabelMapper(labels, task.label_prefix, embed)
        truth, pred = [], []
        unknown = sorted({task.reference_label(str(r.get("ref", ""))) for _, r in answered
                          if mapper.index_of(task.reference_label(str(r.get("ref", "")))) is None})
        if unknown:
            raise EngineError(f"{len(unknown)} reference label(s) are not in the {task.name} label set: "
                              f"{', '.join(unknown[:10])}; pass the right set with --labels FILE.")
        for i, r in answered:
            t = mapper.index_of(task.reference_label(str(r["ref"])))
            p = mapper(mapper.answer_parts(task.answer_text(r["pred"])))
            truth.append(t)
            pred.append(p)
            items.append({"index": i, "truth": labels[t], "pred_label": labels[p]})
        metrics = {"accuracy": 100 * accuracy(truth, pred), "macro_f1": 100 * macro_f1(truth, pred),
                   "mAP": 100 * mean_average_precision(truth, pred, len(labels))}
    elif task.kind == "gender":
        truth = [int(is_female(str(r.get("ref", "")))) for _, r in answered]
        pred = [int(is_female(r["pred"])) for _, r in answered]
        items = [{"index": i, "truth": "female" if t else "male", "pred_label": "female" if p else "male"}
                 for (i, _), t, p in zip(answered, truth, pred)]
        metrics = {"accuracy": 100 * accuracy(truth, pred), "macro_f1": 100 * macro_f1(truth, pred)}
    elif task.kind == "age":
        errors = []
        for i, r in answered:
            ref, guess = parse_age(str(r.get("ref", "")), first=False), parse_age(r["pred"])
            if ref is None or guess is None:
                items.append({"index": i, "skipped": "no number in the " + ("reference" if ref is None else "answer")})
                continue
            errors.append(abs(ref - guess))
            items.append({"index": i, "truth": ref, "pred_value": guess})
        counts["unparsed"] = len(answered) - len(errors)
        metrics = {"mae": float(np.mean(errors)) if errors else float("nan")}
    elif task.kind == "asr":
        refs = [spoken_text(str(r.get("ref", ""))) for _, r in answered]
        hyps = [spoken_text(r["pred"]) for _, r in answered]
        metrics = {"wer": 100 * word_error_rate(refs, hyps)}
        items = [{"index": i, "truth": ref, "pred_text": hyp} for (i, _), ref, hyp in zip(answered, refs, hyps)]
    return Scored({k: metrics[k] for k in task.metrics if k in metrics}, counts, items)
