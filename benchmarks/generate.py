"""Generator speed: sentences per second per domain/language, against reading the same corpus
back from CoNLL-U (the naive alternative: ship a corpus file and parse it).

Requirement (issue 2): 100,000 sentences in under 30 s on the 2-core development machine.

    .venv/bin/python benchmarks/generate.py                 # 100k general/en + 20k each other
    .venv/bin/python benchmarks/generate.py --sentences 20000 --others 5000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from probekit.data.conllu import read_conllu
from probekit.data.synthetic import DOMAINS, LANGUAGES, export, generate, restore_layers


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=100_000, help="size of the main run")
    parser.add_argument("--others", type=int, default=20_000,
                        help="size of the runs for the other domains and languages")
    args = parser.parse_args()

    rows = []
    sents, secs = timed(lambda: generate(args.sentences, domain="general", lang="en", seed=0))
    tokens = sum(len(s) for s in sents)
    rows.append(("generate general/en", len(sents), tokens, secs))
    with tempfile.TemporaryDirectory() as tmp:
        _, write_secs = timed(lambda: export(sents, tmp, formats=("conllu",)))
        path = Path(tmp) / "corpus.conllu"
        back, read_secs = timed(lambda: [restore_layers(s) for s in read_conllu(path)])
        assert back == sents  # the baseline really yields the same records
    rows.append(("baseline: read CoNLL-U + restore", len(back), tokens, read_secs))
    rows.append(("(export CoNLL-U)", len(sents), tokens, write_secs))
    del sents, back
    for domain in DOMAINS:
        for lang in LANGUAGES:
            if (domain, lang) == ("general", "en"):
                continue
            s, secs = timed(lambda: generate(args.others, domain=domain, lang=lang, seed=0))
            rows.append((f"generate {domain}/{lang}", len(s), sum(len(x) for x in s), secs))

    table = pd.DataFrame(rows, columns=["run", "sentences", "tokens", "seconds"])
    table["sent/s"] = (table["sentences"] / table["seconds"]).round(0).astype(int)
    base = table.loc[1, "sent/s"]
    table["speed vs read"] = (table["sent/s"] / base).round(2)
    table["seconds"] = table["seconds"].round(2)
    print(table.to_string(index=False))
    main_secs = table.loc[0, "seconds"] * 100_000 / args.sentences
    print(f"\n100,000 sentences (general/en): {main_secs:.1f} s "
          f"({'meets' if main_secs < 30 else 'MISSES'} the < 30 s requirement)")


if __name__ == "__main__":
    main()
