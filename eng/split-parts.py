#!/usr/bin/env python3
"""Class folders of a training run's parts (train, validation, test, heldout), as links into the data, so the
quantizer can calibrate on the training part and measure on a held-out one.
  eng/split-parts.py RUN/split.csv DATA OUT   ->  OUT/<part>/<class>/<file>"""
import csv
import os
import sys

split, data, parts = sys.argv[1:]
for row in csv.DictReader(open(split, newline="")):
    folder = os.path.join(parts, row["split"], row["class"])
    os.makedirs(folder, exist_ok=True)
    os.symlink(os.path.abspath(os.path.join(data, row["path"])), os.path.join(folder, os.path.basename(row["path"])))
