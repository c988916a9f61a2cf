# Flickr8k, from its download to a BLEU score on its test split:
#
#   make -f pipelines/flickr8k.mk FLICKR8K=~/data/Flickr8k OUT=runs/f8k NP=4
#
# FLICKR8K is the folder where Flickr8k_Dataset.zip and Flickr8k_text.zip were
# unpacked: the images in Flicker8k_Dataset/ (or the zip itself, which imgshard
# reads in place), the captions in Flickr8k.token.txt, and the split lists
# Flickr_8k.trainImages.txt, Flickr_8k.devImages.txt and Flickr_8k.testImages.txt
# (6000, 1000 and 1000 images). Without the lists the token file's images are
# split by count (VAL_N, TEST_N); with KARPATHY=dataset_flickr8k.json the splits
# are Karpathy's. The settings, outputs and reruns are those of
# pipelines/stages.mk: PRESET, NP, EPOCHS or STEPS, BATCH, LR, BEAM, ...

DATASET := flickr8k
FLICKR8K ?= $(error FLICKR8K is not set: the folder of the unpacked Flickr8k download)
FLICKR8K_IMAGES ?= $(firstword $(wildcard $(FLICKR8K)/Flicker8k_Dataset $(FLICKR8K)/Flickr8k_Dataset \
	$(FLICKR8K)/Flickr8k_Dataset.zip) $(FLICKR8K)/Flicker8k_Dataset)
FLICKR8K_TOKENS ?= $(FLICKR8K)/Flickr8k.token.txt
FLICKR8K_LISTS ?= $(FLICKR8K)
OUT ?= runs/flickr8k
KARPATHY_IMAGES := $(FLICKR8K_IMAGES)

LIST_train := $(FLICKR8K_LISTS)/Flickr_8k.trainImages.txt
LIST_val := $(FLICKR8K_LISTS)/Flickr_8k.devImages.txt
LIST_test := $(FLICKR8K_LISTS)/Flickr_8k.testImages.txt
HAVE_LISTS := $(and $(wildcard $(LIST_train)),$(wildcard $(LIST_val)),$(wildcard $(LIST_test)))

$(foreach s,train val test,$(eval IMAGES_$s := $(FLICKR8K_IMAGES))$(eval CAPTIONS_$s := $(FLICKR8K_TOKENS)) \
	$(eval NEEDS_$s := $(if $(HAVE_LISTS),$(LIST_$s),$(OUT)/keys/$s.txt))$(eval SELECT_$s := --keys $(NEEDS_$s)))

include $(dir $(lastword $(MAKEFILE_LIST)))stages.mk

# Without the split lists: the images of the token file, in its order.
$(O)/keys/all.txt: $(FLICKR8K_TOKENS)
	@mkdir -p $(@D)
	cut -f1 $< | sed 's/#[0-9]*$$//' | awk '!seen[$$0]++' > $@.tmp
	mv $@.tmp $@
