# make demo: for now, bleu on a small built-in example (hypotheses from a captioner
# against five reference captions per image); the full capsynth -> imgshard ->
# tokenize -> captrain -> vit-embed -> capdecode -> bleu pipeline replaces it.
demo: $(BIN)/bleu
	@echo "== sacreBLEU-compatible corpus BLEU"
	$(BIN)/bleu --tsv -r pipelines/demo/refs.tsv pipelines/demo/hyps.tsv
	@echo "== coco-caption BLEU-1..4 and CIDEr-D"
	$(BIN)/bleu --coco --tsv -r pipelines/demo/refs.tsv pipelines/demo/hyps.tsv
