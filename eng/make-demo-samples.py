#!/usr/bin/python3
"""Builds the labeled demo series in samples/ from slices the shipped model never trained on.

For each class with validation files in the run's split.csv, it takes the largest subject of that class's validation
part (the split's `group` column, from the trainer's --group-by similar), keeps 6 slices from the middle of that
subject in file order, and wraps the original JPEG bytes unchanged in MR Image Storage files (JPEG baseline transfer syntax, gdcmimg), then sets synthetic axial geometry and demo identifiers
(dcmodify). UIDs are derived from the file names, so a rebuild gives the same objects. It also writes --sources
(eng/demo-sample-sources.txt), the source files relative to --data: a model retrained on every subject keeps these
subjects out with `./edgemed.sh train --group-by similar --hold-out eng/demo-sample-sources.txt`, so the demo still
shows unseen ones. (Not in samples/: everything there is copied to the demo's share.)

Needs Debian's libgdcm-tools and dcmtk.
Usage: eng/make-demo-samples.py --split RUN/split.csv --data ../shared/data/alzheimer-mri/train --out samples [--sources FILE]
"""
import argparse
import csv
import hashlib
import os
import re
import subprocess
import sys
import tempfile

SLICES = 6
SPACING_MM = 5.0  # synthetic: the source slices carry no positions


def uid(*parts):
    """A 2.25 UID (ISO/IEC 9834-8) from a hash of the parts: deterministic, no registered root needed."""
    return "2.25." + str(int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:15], "big"))


def number(path):
    return int(re.search(r"(\d+)\.\w+$", path).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sources", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo-sample-sources.txt"))
    args = parser.parse_args()
    validation = {}
    with open(args.split, newline="") as f:
        for row in csv.DictReader(f):
            if "group" not in row:
                sys.exit(f"{args.split} has no group column: train with a version that writes one, with --group-by similar")
            if row["split"] == "validation":
                validation.setdefault(row["class"], {}).setdefault(row["group"], []).append(os.path.join(args.data, row["path"]))
    if not validation:
        sys.exit(f"{args.split} has no validation rows: the samples must come from subjects a model was validated on, not trained on")
    sources = []
    for cls in sorted(validation):
        subject = max(validation[cls].values(), key=lambda files: (len(files), min(files)))
        subject.sort(key=number)
        middle = len(subject) // 2
        chosen = subject[middle - SLICES // 2: middle - SLICES // 2 + SLICES]
        sources += [os.path.relpath(p, args.data) for p in chosen]
        folder = os.path.join(args.out, f"alzheimer-{cls.lower()}")
        os.makedirs(folder, exist_ok=True)
        study, series = uid("study", cls), uid("series", cls)
        for k, source in enumerate(chosen, start=1):
            target = os.path.join(folder, f"slice{k:02d}.dcm")
            with tempfile.TemporaryDirectory() as tmp:
                # gdcmimg wants a .jpg name; the bytes are wrapped, not re-encoded.
                jpg = os.path.join(tmp, "slice.jpg")
                with open(source, "rb") as src, open(jpg, "wb") as dst:
                    dst.write(src.read())
                subprocess.run(["gdcmimg", "-C", "1.2.840.10008.5.1.4.1.1.4", "-T", study, "-S", series, "-i", jpg, "-o", target], check=True)
            tags = {
                "(0008,0018)": uid("instance", cls, os.path.basename(source)),
                "(0008,0020)": "20261201", "(0008,0023)": "20261201", "(0008,0030)": "120000", "(0008,0033)": "120000", "(0008,0060)": "MR",
                "(0008,1030)": "EdgeMed demo", "(0008,103e)": f"demo {cls} (held-out subject)",
                "(0010,0010)": f"EdgeMed^Demo {cls}", "(0010,0020)": f"DEMO-{cls.upper()}", "(0010,0030)": "", "(0010,0040)": "O",
                "(0018,0050)": "1", "(0020,0010)": "1", "(0020,0011)": "1", "(0020,0013)": str(k),
                "(0020,0032)": f"-88\\-104\\{(k - 1) * SPACING_MM:.1f}", "(0020,0037)": "1\\0\\0\\0\\1\\0",
                "(0020,0052)": uid("frame-of-reference", cls), "(0028,0030)": "1\\1",
            }
            command = ["dcmodify", "-nb", "-q"]
            for tag, value in tags.items():
                command += ["-i", f"{tag}={value}"]
            subprocess.run(command + [target], check=True)
        print(f"{folder}: {len(chosen)} slices of one validation subject of {cls} ({', '.join(os.path.basename(p) for p in chosen)})")
    write_sources(args.sources, sources)


def write_sources(path, sources):
    with open(path, "w") as f:
        f.write("# Source slices of the alzheimer-* demo series (relative to ../shared/data/alzheimer-mri/train), written by\n"
                "# eng/make-demo-samples.py. `./edgemed.sh train --group-by similar --hold-out` keeps their whole subjects out of training.\n")
        f.writelines(p + "\n" for p in sources)


if __name__ == "__main__":
    main()
