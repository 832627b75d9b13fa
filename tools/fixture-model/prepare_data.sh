#!/bin/sh
# Builds the training/validation text and the SentencePiece tokenizer.
# Usage: prepare_data.sh [WORK_DIR]   (default /tmp/fixture-work)
# Requires: r-cran-janeaustenr, sentencepiece (spm_train), python3.
set -eu
WORK="${1:-/tmp/fixture-work}"
mkdir -p "$WORK"
cd "$WORK"

# Raw text: all six novels; Persuasion is held out entirely for validation.
Rscript -e 'b <- janeaustenr::austen_books(); writeLines(as.character(b$text[b$book != "Persuasion"]), "train_raw.txt"); writeLines(as.character(b$text[b$book == "Persuasion"]), "valid_raw.txt")'

# Per-book raw text (needed for BOS/EOS per book in the token stream).
Rscript -e 'b <- janeaustenr::austen_books(); for (bk in levels(b$book)) writeLines(as.character(b$text[b$book == bk]), paste0("book_", gsub("[^A-Za-z]", "_", bk), ".txt")); writeLines(levels(b$book), "books.txt")'

# Re-flow hard-wrapped lines into paragraphs: join consecutive non-empty
# lines with a single space, one paragraph per output line.
reflow() {
  awk 'BEGIN{p=""} { if ($0 ~ /^[ \t]*$/) { if (p != "") print p; p="" } else { p = (p == "" ? $0 : p " " $0) } } END{ if (p != "") print p }' "$1" > "$2"
}
reflow train_raw.txt train.txt
reflow valid_raw.txt valid.txt
for f in book_*.txt; do
  case "$f" in *_para.txt) continue;; esac
  reflow "$f" "${f%.txt}_para.txt"
done

spm_train --input=train.txt --model_prefix=tokenizer --model_type=bpe \
  --vocab_size=4096 --byte_fallback=true --character_coverage=1.0 \
  --split_digits=true --normalization_rule_name=identity \
  --remove_extra_whitespaces=false --allow_whitespace_only_pieces=true \
  --max_sentence_length=16384 --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 \
  --num_threads=1 > spm_train.log 2>&1

wc -l train.txt valid.txt
ls -l tokenizer.model
