# COCO captions, 2014 or 2017, from the download to BLEU and CIDEr-D:
#
#   make -f pipelines/coco.mk COCO=~/data/coco OUT=runs/coco NP=4
#   make -f pipelines/coco.mk COCO=~/data/coco KARPATHY=~/data/dataset_coco.json OUT=runs/coco-karpathy NP=4
#
# COCO is the folder holding the unpacked image folders train2014/ and val2014/
# (or train2017/ and val2017/; YEAR says which, 2017 when train2017/ is there)
# and annotations/captions_train2014.json and captions_val2014.json. Without a
# split file the model trains on the train images; of the val images, in name
# order, the first VAL_N (1000) are for validation and the next TEST_N (5000)
# for test. With KARPATHY=dataset_coco.json (Karpathy's split file, over the 2014
# images) the splits are its own: 113287 train (restval included), 5000 val,
# 5000 test, those of most papers. The settings, outputs and reruns are those of
# pipelines/stages.mk: PRESET, NP, EPOCHS or STEPS, BATCH, LR, BEAM, ...

DATASET := coco
COCO ?= $(error COCO is not set: the folder of the COCO images and annotations)
YEAR ?= $(if $(wildcard $(COCO)/train2017),2017,2014)
OUT ?= runs/coco
TEST_N ?= 5000
KARPATHY_IMAGES := $(COCO)/train2014 $(COCO)/val2014

IMAGES_train := $(COCO)/train$(YEAR)
CAPTIONS_train := $(COCO)/annotations/captions_train$(YEAR).json
$(foreach s,val test,$(eval IMAGES_$s := $(COCO)/val$(YEAR))$(eval CAPTIONS_$s := \
	$(COCO)/annotations/captions_val$(YEAR).json)$(eval NEEDS_$s := $(OUT)/keys/$s.txt) \
	$(eval SELECT_$s := --keys $(NEEDS_$s)))

include $(dir $(lastword $(MAKEFILE_LIST)))stages.mk

# The val images, in name order, to split between validation and test.
$(O)/keys/all.txt: $(COCO)/val$(YEAR)
	@mkdir -p $(@D)
	ls $< | grep -iE '\.(jpe?g|png)$$' | LC_ALL=C sort > $@.tmp
	mv $@.tmp $@
