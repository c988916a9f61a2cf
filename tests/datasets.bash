# Loaded by pipelines.bats and readme.bats: capsynth miniatures of the data sets,
# laid out as their downloads unpack.

# flickr8k_like DIR N TRAIN VAL SEED: Flickr8k as its two zips unpack into DIR:
# Flicker8k_Dataset/, Flickr8k.token.txt and the split lists, the first TRAIN
# images for training, the next VAL for validation, the rest for test.
flickr8k_like() {
	capsynth -n "$2" --size 32 -s "$5" -o "$1.syn"
	mkdir -p "$1"
	mv "$1.syn/images" "$1/Flicker8k_Dataset"
	mv "$1.syn/captions.txt" "$1/Flickr8k.token.txt"
	rmdir "$1.syn"
	ls "$1/Flicker8k_Dataset" > "$1.all"
	sed -n "1,$3p" "$1.all" > "$1/Flickr_8k.trainImages.txt"
	sed -n "$(($3 + 1)),$(($3 + $4))p" "$1.all" > "$1/Flickr_8k.devImages.txt"
	sed -n "$(($3 + $4 + 1)),\$p" "$1.all" > "$1/Flickr_8k.testImages.txt"
	rm "$1.all"
}

# flickr30k_like ZIP N SEED: the Kaggle Flickr30k zip, flickr30k_images/results.csv
# and flickr30k_images/flickr30k_images/, and the folder it unpacks to, ZIP less .zip.
flickr30k_like() {
	local d=${1%.zip}
	capsynth -n "$2" --size 32 -s "$3" -f flickr30k -o "$d.syn"
	mkdir -p "$d/flickr30k_images"
	mv "$d.syn/images" "$d/flickr30k_images/flickr30k_images"
	mv "$d.syn/results.csv" "$d/flickr30k_images/"
	rmdir "$d.syn"
	(cd "$d" && zip -qr "$1" flickr30k_images)
}
