# Flickr30k, from the Kaggle download to a BLEU score:
#
#   make -f pipelines/flickr30k.mk FLICKR30K=~/data/flickr30k.zip OUT=runs/f30k NP=4
#
# FLICKR30K is the Kaggle zip (read in place: the images by imgshard, results.csv
# with unzip) or the folder it was unpacked into (results.csv anywhere two levels
# down, the images beside it). results.csv has no splits: the images, in its
# order, are split by count, the first VAL_N (1000) for validation, the next
# TEST_N (1000) for test, the rest (29783) for training; with
# KARPATHY=dataset_flickr30k.json the splits are Karpathy's (29000/1014/1000),
# those of most papers. The settings, outputs and reruns are those of
# pipelines/stages.mk: PRESET, NP, EPOCHS or STEPS, BATCH, LR, BEAM, ...

DATASET := flickr30k
FLICKR30K ?= $(error FLICKR30K is not set: the Kaggle flickr30k zip or the folder it was unpacked into)
OUT ?= runs/flickr30k
ifneq ($(filter %.zip,$(FLICKR30K)),)
FLICKR30K_CSV ?= $(OUT)/results.csv
else
FLICKR30K_CSV ?= $(firstword $(shell find $(FLICKR30K) -maxdepth 2 -name results.csv | LC_ALL=C sort) \
	$(FLICKR30K)/results.csv)
endif
KARPATHY_IMAGES := $(FLICKR30K)

$(foreach s,train val test,$(eval IMAGES_$s := $(FLICKR30K))$(eval CAPTIONS_$s := $(FLICKR30K_CSV)) \
	$(eval NEEDS_$s := $(OUT)/keys/$s.txt)$(eval SELECT_$s := --keys $(NEEDS_$s)))

include $(dir $(lastword $(MAKEFILE_LIST)))stages.mk

$(O)/results.csv: $(FLICKR30K)
	@mkdir -p $(@D)
	member=$$(unzip -Z1 $< | grep -E '(^|/)results\.csv$$' | grep -v __MACOSX | head -n 1); \
	[ -n "$$member" ] || { echo "flickr30k.mk: $<: no results.csv in the zip" >&2; exit 1; }; \
	unzip -p $< "$$member" > $@.tmp
	mv $@.tmp $@

# The images of results.csv, in its order.
$(O)/keys/all.txt: $(FLICKR30K_CSV)
	@mkdir -p $(@D)
	tail -n +2 $< | cut -d'|' -f1 | sed 's/^ *//; s/ *$$//' | awk 'NF && !seen[$$0]++' > $@.tmp
	mv $@.tmp $@
