"""Text emotion across corpora: today's TF-IDF models against the sentence-encoder models, side by side.

    python scripts/bench_text_crosscorpus.py --language en|zh [--embeddings runs/text_embeddings]
    # figures to docs/results/text_crosscorpus_<language>.json

Leave-one-corpus-out (train on one corpus of a language, test on the other's test split; the measures are in
``emolens.text.corpora``):

- GoEmotions -> dair-ai: accuracy over all 7 face labels (and macro-F1 over dair's 5);
- dair-ai -> GoEmotions: the test texts with one face label among dair's 5, macro-F1 (and accuracy) over them;
- SMP2020 usual -> virus and virus -> usual: macro-F1 (and accuracy) over the 6 SMP labels.

"TF-IDF" rows: the shipped ``text-en-goemotions``, ``text-en-dair``, ``text-zh-smp``; for virus -> usual the
shipped SMP recipe (char 1-3-grams, linear SVM C 0.3, balanced) fitted on virus train here. "encoder" rows: the
recipe of the shipped multi-corpus model of the language (a TF-IDF head and a USE-multilingual-v3 embedding head,
logits summed with the embedding weight selected on the pooled validation splits) fitted on the one source
corpus. In-corpus: every shipped model on
every test split of its language. Needs scikit-learn (``pip install -e '.[train]'``); the sentence embeddings of
all splits are computed once into --embeddings (about half an hour on two cores).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

from emolens.labels import FER2013, SMP2020
from emolens.registry import get_model
from emolens.text.corpora import CORPORA, corpus_figures, load_face_corpus
from emolens.text.features import normalize_text
from emolens.text.model import load_text_model
from emolens.train.text import SPECS, _fit_head, _vectorizer
from emolens.train.text_multi import MULTI, corpus_embeddings, fit_multi

REPO = Path(__file__).resolve().parents[1]
PAIRS = (("goemotions", "dair"), ("dair", "goemotions"), ("usual", "virus"), ("virus", "usual"))
SHIPPED_TFIDF = {"goemotions": "text-en-goemotions", "dair": "text-en-dair", "usual": "text-zh-smp"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def headline(target: str, f: dict) -> tuple[float, float, str]:
    """(headline, second figure, what they are) for a target test split."""
    if target == "dair":
        return f["all_labels"]["accuracy"], f["common"]["macro_f1"], "accuracy (7 labels) / macro-F1 (5)"
    return f["common"]["macro_f1"], f["common"]["accuracy"], "macro-F1 / accuracy"


class VirusTfidf:
    """Today's SMP recipe (char 1-3-grams, linear SVM C 0.3, balanced, softmax) fitted on virus train."""

    def __init__(self) -> None:
        spec = SPECS["smp"]
        tr = load_face_corpus("virus", "train")
        self.vec = _vectorizer(spec.features["char1-3"])
        x = self.vec.fit_transform([normalize_text(t) for t in tr.texts])
        self.cols = [FER2013.index(c) for c in SMP2020]
        y6 = np.array([self.cols.index(k) for k in tr.targets.argmax(1)])
        self.w, self.b = _fit_head(spec, "svc", 0.3, x, y6)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        z = np.asarray(self.vec.transform([normalize_text(t) for t in texts]) @ self.w.T) + self.b
        out = np.zeros((len(texts), 7))
        out[:, self.cols] = np.exp(z - z.max(1, keepdims=True))
        return out / out.sum(1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embeddings", type=Path, default=REPO / "runs" / "text_embeddings")
    ap.add_argument("--language", choices=["en", "zh"], required=True)
    ap.add_argument("--json", type=Path, help="default: docs/results/text_crosscorpus_<language>.json")
    args = ap.parse_args()
    args.json = args.json or REPO / "docs" / "results" / f"text_crosscorpus_{args.language}.json"
    corpora = [k for k, v in CORPORA.items() if v[0] == args.language]

    data = {}
    for k in corpora:
        for split in ("train", "test"):
            fc = load_face_corpus(k, split)
            data[(k, split)] = (fc, corpus_embeddings(fc, args.embeddings, log))

    out: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}",
        "leave_one_corpus_out": [],
        "in_corpus": [],
    }
    virus_tfidf = VirusTfidf() if args.language == "zh" else None
    for src, tgt in (p for p in PAIRS if p[0] in corpora):
        fc, emb = data[(tgt, "test")]
        if src in SHIPPED_TFIDF:
            m = load_text_model(SHIPPED_TFIDF[src])
            p_old, _ = m.probabilities(fc.texts)
            old_name = m.name
        else:
            assert virus_tfidf is not None
            p_old, old_name = virus_tfidf.probabilities(fc.texts), "TF-IDF (SMP recipe) on virus train"
        lang = CORPORA[src][0]
        hp = get_model(MULTI[lang].name).manifest.hyperparameters
        fit = fit_multi(MULTI[lang], (src,), data, log)
        fit.weight = float(hp["embedding_weight"])
        z = fit.face_logits(fc.texts, emb)
        p_new = np.exp(z - z.max(1, keepdims=True))
        p_new /= p_new.sum(1, keepdims=True)
        f_old, f_new = corpus_figures(tgt, p_old, None, fc), corpus_figures(tgt, p_new, None, fc)
        h_old, s_old, what = headline(tgt, f_old)
        h_new, s_new, _ = headline(tgt, f_new)
        row = {
            "train": src,
            "test": tgt,
            "measure": what,
            "tfidf_model": old_name,
            "tfidf": [h_old, s_old],
            "encoder": [h_new, s_new],
            "gain": h_new - h_old,
            "tfidf_figures": f_old,
            "encoder_figures": f_new,
        }
        out["leave_one_corpus_out"].append(row)
        log(f"{src} -> {tgt}: tfidf {h_old:.4f} encoder {h_new:.4f}")
    # in-corpus: the shipped models on every test split of their language
    names = ("text-en-goemotions", "text-en-dair", "text-en-all", "text-zh-smp", "text-zh-all")
    for name in (n for n in names if n.startswith(f"text-{args.language}")):
        m = load_text_model(name)
        for k, (lang, *_rest) in CORPORA.items():
            if lang != m.language:
                continue
            fc, emb = data[(k, "test")]
            probs, scores = m.probabilities(fc.texts, emb) if m.encoder else m.probabilities(fc.texts)
            f = corpus_figures(k, probs, scores, fc, m.thresholds)
            out["in_corpus"].append({"model": name, "test": k, "figures": f})
    for k in ("usual", "virus") if virus_tfidf is not None else ():
        fc, _ = data[(k, "test")]
        f = corpus_figures(k, virus_tfidf.probabilities(fc.texts), None, fc)
        out["in_corpus"].append({"model": "TF-IDF (SMP recipe) on virus train", "test": k, "figures": f})

    print("Leave one corpus out (test splits):\n")
    print("| train -> test | measure | TF-IDF (today) | sentence encoder | gain |")
    print("|---|---|---:|---:|---:|")
    for r in out["leave_one_corpus_out"]:
        print(
            f"| {r['train']} -> {r['test']} | {r['measure']} | {r['tfidf'][0]:.4f} / {r['tfidf'][1]:.4f} "
            f"| {r['encoder'][0]:.4f} / {r['encoder'][1]:.4f} | {r['gain']:+.4f} |"
        )
    print(
        "\nIn corpus (test splits): GoEmotions multi-label macro-F1 (7) | dair accuracy (7 face labels) | "
        "SMP macro-F1 (6), accuracy in brackets; neutral share = texts answered neutral\n"
    )
    print("| model | GoEmotions | dair | dair neutral share | SMP usual | SMP virus |")
    print("|---|---:|---:|---:|---:|---:|")
    by_model: dict[str, dict] = {}
    for r in out["in_corpus"]:
        by_model.setdefault(r["model"], {})[r["test"]] = r["figures"]
    for name, figs in by_model.items():

        def cell(k: str, figs: dict = figs) -> str:
            f = figs.get(k)
            if f is None:
                return "–"
            if k == "goemotions":
                return f"{f['multilabel_macro_f1']:.4f}" if "multilabel_macro_f1" in f else "–"
            if k == "dair":
                return f"{f['all_labels']['accuracy']:.4f}"
            return f"{f['common']['macro_f1']:.4f} ({f['common']['accuracy']:.4f})"

        neutral = figs.get("dair", {}).get("all_labels", {}).get("predicted_share", {}).get("neutral")
        n_txt = "–" if neutral is None else f"{neutral:.3f}"
        print(f"| {name} | {cell('goemotions')} | {cell('dair')} | {n_txt} | {cell('usual')} | {cell('virus')} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
