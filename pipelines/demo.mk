# make demo: the whole pipeline on synthetic data, on the CPU, in a few minutes:
#
#   capsynth -> imgshard -> tokenize build/encode -> captrain (tiny)
#   imgshard test | vit-embed | capdecode -> bleu
#
# Every stage is a file under $(DEMO)/, so a rerun redoes only what is missing and
# an interrupted training resumes from its last checkpoint (--save-every).
# The programs are order-only prerequisites: rebuilding a tool does not retrain;
# `make demo-clean` starts over.

DEMO ?= demo
# training images (five captions each), held-out images (another seed), and the
# decoder positions of the tiny preset
DEMO_TRAIN ?= 4000
DEMO_TEST ?= 250
DEMO_LEN ?= 24
DEMO_STEPS ?= 2000
DEMO_BATCH ?= 32
DEMO_LR ?= 5e-4
# beam search: 3 beams score about 4 BLEU above greedy decoding on this model
DEMO_BEAM ?= 3

D := $(DEMO)
TOOLS_BUILT := $(addprefix $(BIN)/,capsynth imgshard tokenize captrain vit-embed capdecode bleu)

$(D)/train/captions.txt: | $(TOOLS_BUILT)
	$(BIN)/capsynth -n $(DEMO_TRAIN) --seed 1 -o $(D)/train

$(D)/test/captions.txt: | $(TOOLS_BUILT)
	$(BIN)/capsynth -n $(DEMO_TEST) --seed 2 -o $(D)/test

$(D)/%.tsr: $(D)/%/captions.txt
	$(BIN)/imgshard -c $< --size 64 -o $@ $(D)/$*/images

$(D)/vocab.txt: $(D)/train.tsr
	$(BIN)/tokenize build -o $@ $<

$(D)/train-tok.tsr: $(D)/train.tsr $(D)/vocab.txt
	$(BIN)/tokenize encode -v $(D)/vocab.txt --max-len $(DEMO_LEN) $< > $@.tmp
	mv $@.tmp $@

# The stamp marks a finished run; a checkpoint without it is one to resume.
$(D)/model.done: $(D)/train-tok.tsr $(D)/vocab.txt
	$(BIN)/captrain -c tiny -v $(D)/vocab.txt --train $(D)/train-tok.tsr \
		--steps $(DEMO_STEPS) --batch $(DEMO_BATCH) --lr $(DEMO_LR) --pairs one --save-every 200 \
		--log $(D)/train.jsonl -o $(D)/model.safetensors \
		$$([ -f $(D)/model.state.safetensors ] && echo --resume)
	touch $@

# The captions of the held-out images, and the references that came through the stream.
$(D)/hyps.tsv: $(D)/model.done $(D)/test.tsr
	$(BIN)/vit-embed -m $(D)/model.safetensors < $(D)/test.tsr | \
		$(BIN)/capdecode -m $(D)/model.safetensors --beam $(DEMO_BEAM) --refs $(D)/refs.tsv.tmp > $@.tmp
	mv $(D)/refs.tsv.tmp $(D)/refs.tsv
	mv $@.tmp $@

# References normalised as the model's vocabulary sees text (lowercase, no
# punctuation): the form in which the model writes its captions; none cut short.
$(D)/refs-norm.tsv: $(D)/hyps.tsv
	cut -f2 $(D)/refs.tsv | $(BIN)/tokenize encode -v $(D)/vocab.txt --max-len 1000 | \
		$(BIN)/tokenize decode -v $(D)/vocab.txt | paste <(cut -f1 $(D)/refs.tsv) - > $@.tmp
	mv $@.tmp $@

# The baseline that ignores the image: the most frequent training caption, for every image.
$(D)/baseline.tsv: $(D)/hyps.tsv $(D)/train/captions.txt
	best=$$(cut -f2 $(D)/train/captions.txt | $(BIN)/tokenize encode -v $(D)/vocab.txt --max-len 1000 | \
		$(BIN)/tokenize decode -v $(D)/vocab.txt | sort | uniq -c | sort -k1,1nr -k2 | \
		head -1 | sed 's/^ *[0-9]* //'); \
	cut -f1 $(D)/hyps.tsv | awk -v c="$$best" '{ print $$0 "\t" c }' > $@.tmp
	mv $@.tmp $@

$(D)/scores.txt: $(D)/hyps.tsv $(D)/refs-norm.tsv $(D)/baseline.tsv
	{ echo "model, sacreBLEU against the normalised references:"; \
	  $(BIN)/bleu --tsv -r $(D)/refs-norm.tsv $(D)/hyps.tsv; \
	  echo "model, coco-caption (its own tokenization of the raw references):"; \
	  $(BIN)/bleu --coco --tsv -r $(D)/refs.tsv $(D)/hyps.tsv; \
	  echo "baseline (the most frequent training caption for every image):"; \
	  $(BIN)/bleu --tsv -r $(D)/refs-norm.tsv $(D)/baseline.tsv; \
	  $(BIN)/bleu --coco --tsv -r $(D)/refs.tsv $(D)/baseline.tsv | grep -E 'Bleu_4|CIDEr'; \
	} > $@.tmp
	mv $@.tmp $@

$(D)/loss.png: $(D)/model.done
	sed -n 's/.*"step":\([0-9]*\).*"loss":\([-0-9.e+]*\).*/\1 \2/p' $(D)/train.jsonl > $(D)/loss.dat
	gnuplot -e "set terminal pngcairo size 800,480; set output '$@.tmp'; \
		set xlabel 'step'; set ylabel 'training loss (cross-entropy per token)'; \
		set logscale y; set grid; \
		plot '$(D)/loss.dat' using 1:2 with lines title 'captrain -c tiny'" 2>/dev/null || \
	gnuplot -e "set terminal png size 800,480; set output '$@.tmp'; \
		set xlabel 'step'; set ylabel 'training loss'; set logscale y; set grid; \
		plot '$(D)/loss.dat' using 1:2 with lines title 'captrain -c tiny'"
	mv $@.tmp $@

# A page showing each held-out image with its predicted and reference captions.
$(D)/index.html: $(D)/hyps.tsv $(D)/scores.txt
	{ echo '<!doctype html><meta charset="utf-8"><title>vitcap demo</title>'; \
	  echo '<style>body{font-family:sans-serif} td{padding:4px 12px;vertical-align:top}'; \
	  echo 'img{width:128px;image-rendering:pixelated} .p{font-weight:bold}</style>'; \
	  echo '<h1>vitcap demo: held-out captions</h1><pre>'; \
	  sed 's/&/\&amp;/g; s/</\&lt;/g' $(D)/scores.txt; \
	  echo '</pre><p><img src="loss.png" style="width:640px;image-rendering:auto"><table>'; \
	  echo '<tr><th>image<th>key<th>predicted caption<th>references'; \
	  awk -F'\t' 'FNR == NR { refs[$$1] = refs[$$1] "<br>" $$2; next } \
		{ gsub(/&/, "\\&amp;"); gsub(/</, "\\&lt;"); \
		  printf "<tr><td><img src=\"test/images/%s\"><td>%s<td class=p>%s<td>%s\n", \
		  $$1, $$1, $$2, substr(refs[$$1], 5) }' $(D)/refs.tsv $(D)/hyps.tsv; \
	  echo '</table>'; } > $@.tmp
	mv $@.tmp $@

demo: $(D)/scores.txt $(D)/loss.png $(D)/index.html
	@echo
	@cat $(D)/scores.txt
	@echo
	@echo "some held-out images: key, predicted caption, then the references"
	@head -5 $(D)/hyps.tsv | while IFS='	' read -r key cap; do \
		printf '%s\t%s\n' "$$key" "$$cap"; \
		grep -F "$$key	" $(D)/refs.tsv | cut -f2 | sed 's/^/		/'; done
	@echo
	@echo "outputs: $(D)/hyps.tsv (captions), $(D)/scores.txt, $(D)/loss.png (training loss),"
	@echo "         $(D)/index.html (the images with their captions), $(D)/model.safetensors"

demo-clean:
	rm -rf $(D)

.PHONY: demo demo-clean
