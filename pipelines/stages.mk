# The stages that the data set pipelines share (flickr8k.mk, flickr30k.mk, coco.mk):
#
#   imgshard train/val/test -> tokenize build (train) -> tokenize encode -> captrain
#   imgshard test | vit-embed | capdecode --refs -> bleu, bleu --coco -> scores.txt
#
# A data set file says how its layout becomes the three splits, for each split S
# in train, val and test:
#   IMAGES_S    the folders, zips or images imgshard reads
#   CAPTIONS_S  the captions file (any layout imgshard reads)
#   SELECT_S    the imgshard options that keep the split's images (--keys FILE, --split S)
#   NEEDS_S     files the split's records are made from besides those (key lists)
# and it may set KEYS_FROM, the captions or folder whose image keys, in order,
# are split by count (keys/all.txt: the first VAL_N val, the next TEST_N test,
# the rest train), with the recipe that lists them; or it sets KARPATHY (a
# dataset_*.json split file) and KARPATHY_IMAGES, and the splits are the file's.
#
# Every stage is a file under $(OUT), written under a temporary name and renamed,
# so a rerun redoes only what changed, and an interrupted training resumes from
# its last checkpoint (--save-every). The settings of a stage (PRESET, BATCH,
# EPOCHS, BEAM, ...) are kept in $(OUT)/settings/, so changing one redoes that
# stage: a longer run (EPOCHS, STEPS) or another LR resumes the training, another
# PRESET, BATCH, SEED, PAIRS or NP starts it over.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SECONDEXPANSION:

VITCAP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BIN ?= $(VITCAP)/bin

# The model: PRESET, a preset (tiny, small, base) or a JSON configuration file;
# SIZE (the image side) and LEN (decoder positions) follow from it. RESIZE is
# imgshard's --resize (squash, center-crop, pad); words seen fewer than MIN_COUNT
# times are <unk>. Splitting by count: VAL_N validation and TEST_N test images.
PRESET ?= small
config_value = $(shell sed -n 's/.*"$1" *: *\([0-9]*\).*/\1/p' $(PRESET))
SIZE ?= $(or $(if $(filter tiny,$(PRESET)),64)$(if $(filter small base,$(PRESET)),224),$(call config_value,image))
LEN ?= $(or $(if $(filter tiny,$(PRESET)),24)$(if $(filter small,$(PRESET)),32)$(if $(filter base,$(PRESET)),40),$(call config_value,dec_len))
RESIZE ?= squash
MIN_COUNT ?= 5
VAL_N ?= 1000
TEST_N ?= 1000

# Training: NP processes (under mpirun when more than one; MPIFLAGS such as
# -H host1:8,host2:8), SHARDS train shards (NP by default, a multiple of NP:
# process r reads shards r, r+NP, ...), EPOCHS or, when set, STEPS, BATCH pairs
# per step and process, the peak LR, WARMUP steps (captrain's default: a
# twentieth), PAIRS all (every caption of an image each epoch) or one, a
# checkpoint every SAVE_EVERY steps, and any other captrain options in TRAINFLAGS.
# Decoding: greedy, or beam search with BEAM beams; more options in DECODEFLAGS.
NP ?= 1
SHARDS ?= $(NP)
MPIRUN ?= mpirun
MPIFLAGS ?=
EPOCHS ?= 10
STEPS ?=
BATCH ?= 32
LR ?= 3e-4
WARMUP ?=
SEED ?= 1
PAIRS ?= all
SAVE_EVERY ?= 500
TRAINFLAGS ?=
BEAM ?= 1
DECODEFLAGS ?=

ifeq ($(OUT),)
$(error OUT is not set: the folder for the run, e.g. OUT=runs/$(DATASET))
endif
ifeq ($(strip $(SIZE)),)
$(error PRESET=$(PRESET): not tiny, small, base or a JSON configuration with "image")
endif

O := $(OUT)
TOOLS := $(addprefix $(BIN)/,imgshard tokenize captrain vit-embed capdecode bleu)
ifneq ($(KARPATHY),)
$(foreach s,train val test,$(eval IMAGES_$s := $(KARPATHY_IMAGES))$(eval CAPTIONS_$s := $(KARPATHY)) \
	$(eval SELECT_$s := --split $s)$(eval NEEDS_$s :=))
endif

# The train shards: imgshard --shards writes exactly SHARDS files, and process r
# of NP reads shards r, r+NP, ...
TRAIN_RAW := $(shell seq -f '$(O)/records/train-%04g.tsr' 0 $$(($(SHARDS) - 1)))
TRAIN_TOK := $(subst /records/,/tokens/,$(TRAIN_RAW))
TRAIN_CMD := $(if $(filter-out 1,$(NP)),$(MPIRUN) -np $(NP) $(MPIFLAGS)) $(BIN)/captrain
TRAIN_LENGTH := $(if $(STEPS),--steps $(STEPS),--epochs $(EPOCHS))
MODEL := $(O)/model.safetensors
STATE := $(O)/model.state.safetensors

# $(call remember,NAME,TEXT): $(O)/settings/NAME holds TEXT, rewritten only when
# TEXT changes, so a stage that depends on it is redone when its settings change.
remember = $(shell mkdir -p $(O)/settings && f=$(O)/settings/$1 && \
	{ [ "$$(cat $$f 2>/dev/null)" = '$(strip $2)' ] || echo '$(strip $2)' > $$f; })
$(call remember,records,--size $(SIZE) --resize $(RESIZE) $(IMAGES_train) $(IMAGES_val) $(IMAGES_test) $(KARPATHY) VAL_N=$(VAL_N) TEST_N=$(TEST_N))
$(call remember,vocab,--min-count $(MIN_COUNT) --max-len $(LEN))
$(call remember,train-fixed,-c $(PRESET) --batch $(BATCH) --seed $(SEED) --pairs $(PAIRS) NP=$(NP) $(TRAINFLAGS))
$(call remember,train-length,$(TRAIN_LENGTH) --lr $(LR) $(if $(WARMUP),--warmup $(WARMUP)))
$(call remember,decode,--beam $(BEAM) $(DECODEFLAGS))
S := $(O)/settings

all: $(O)/scores.txt
	@cat $<
	@echo "outputs: $(O)/hyps.tsv (the test captions), $(O)/scores.txt, $(O)/model.safetensors"

# Splitting by count: keys/all.txt, the data set's image keys in order, made by
# the data set file's rule.
$(O)/keys/val.txt: $(O)/keys/all.txt
	head -n $(VAL_N) $< > $@.tmp && mv $@.tmp $@
$(O)/keys/test.txt: $(O)/keys/all.txt
	tail -n +$$(($(VAL_N) + 1)) $< | head -n $(TEST_N) > $@.tmp && mv $@.tmp $@
$(O)/keys/train.txt: $(O)/keys/all.txt
	tail -n +$$(($(VAL_N) + $(TEST_N) + 1)) $< > $@.tmp && mv $@.tmp $@

$(TRAIN_RAW) &: $(CAPTIONS_train) $(NEEDS_train) $(S)/records | $(TOOLS)
	$(BIN)/imgshard -c $(CAPTIONS_train) $(SELECT_train) --size $(SIZE) --resize $(RESIZE) \
		--shards $(SHARDS) -o '$(O)/records/train-%04d.tsr' $(IMAGES_train)

$(O)/records/val.tsr $(O)/records/test.tsr: $(O)/records/%.tsr: \
		$$(CAPTIONS_$$*) $$(NEEDS_$$*) $(S)/records | $(TOOLS)
	$(BIN)/imgshard -c $(CAPTIONS_$*) $(SELECT_$*) --size $(SIZE) --resize $(RESIZE) \
		-o $@ $(IMAGES_$*)

$(O)/vocab.txt: $(TRAIN_RAW) $(S)/vocab
	$(BIN)/tokenize build --min-count $(MIN_COUNT) -o $@.tmp $(TRAIN_RAW)
	mv $@.tmp $@

$(O)/tokens/%.tsr: $(O)/records/%.tsr $(O)/vocab.txt
	@mkdir -p $(@D)
	$(BIN)/tokenize encode -v $(O)/vocab.txt --max-len $(LEN) $< > $@.tmp
	mv $@.tmp $@

# The stamp marks a finished run. A checkpoint whose state file is newer than
# the data and the settings that must stay is resumed; otherwise training
# starts over.
$(O)/model.done: $(TRAIN_TOK) $(O)/tokens/val.tsr $(O)/vocab.txt $(S)/train-fixed $(S)/train-length
	resume=; if [ -f $(STATE) ]; then resume=--resume; \
		for f in $(TRAIN_TOK) $(O)/tokens/val.tsr $(O)/vocab.txt $(S)/train-fixed; do \
			[ $$f -nt $(STATE) ] && resume=; done; fi; \
	if [ -n "$$resume" ]; then echo "resuming the training of $(MODEL)"; \
	else rm -f $(MODEL) $(STATE) $(O)/train.jsonl; fi; \
	$(TRAIN_CMD) -c $(PRESET) -v $(O)/vocab.txt $(addprefix --train ,$(TRAIN_TOK)) \
		--val $(O)/tokens/val.tsr $(TRAIN_LENGTH) --batch $(BATCH) --lr $(LR) \
		$(if $(WARMUP),--warmup $(WARMUP)) --seed $(SEED) --pairs $(PAIRS) \
		--save-every $(SAVE_EVERY) $(TRAINFLAGS) --log $(O)/train.jsonl -o $(MODEL) $$resume
	touch $@

# The test captions, and the references that came through the stream.
$(O)/hyps.tsv: $(O)/model.done $(O)/records/test.tsr $(S)/decode
	$(BIN)/vit-embed -m $(MODEL) < $(O)/records/test.tsr | \
		$(BIN)/capdecode -m $(MODEL) --beam $(BEAM) $(DECODEFLAGS) --refs $(O)/refs.tsv.tmp > $@.tmp
	mv $(O)/refs.tsv.tmp $(O)/refs.tsv
	mv $@.tmp $@

# The references as the model's vocabulary sees text (lowercase, no
# punctuation), the form in which the model writes its captions.
$(O)/refs-norm.tsv: $(O)/hyps.tsv
	cut -f2 $(O)/refs.tsv | $(BIN)/tokenize encode -v $(O)/vocab.txt --max-len 1000 | \
		$(BIN)/tokenize decode -v $(O)/vocab.txt | paste <(cut -f1 $(O)/refs.tsv) - > $@.tmp
	mv $@.tmp $@

$(O)/scores.txt: $(O)/hyps.tsv $(O)/refs-norm.tsv
	{ echo "sacreBLEU against the normalised references:"; \
	  $(BIN)/bleu --tsv -r $(O)/refs-norm.tsv $(O)/hyps.tsv; \
	  echo "coco-caption (its own tokenization of the raw references):"; \
	  $(BIN)/bleu --coco --tsv -r $(O)/refs.tsv $(O)/hyps.tsv; } > $@.tmp
	mv $@.tmp $@

$(TOOLS):
	$(MAKE) -C $(VITCAP) $(patsubst $(VITCAP)/%,%,$@)

clean:
	rm -rf $(O)

.PHONY: all clean
