/* test_captions: the caption file parsers (common/captions.c) and the choice of
 * archive members (common/inputs.c); exits 1 on any failure. */
#include "captions.h"
#include "inputs.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static char err[256];

/* Parses text, which must succeed, into c. */
static int
parse(struct captions *c, const char *text, int format, int split)
{
	memset(c, 0, sizeof *c);
	err[0] = '\0';
	if (!CHECK(captions_parse(c, text, strlen(text), format, split, err, sizeof err) == 0)) {
		fprintf(stderr, "  error: %s\n", err);
		return -1;
	}
	return 0;
}

/* Parses text, which must fail with message want. */
static void
parse_fails(const char *text, int format, int split, const char *want)
{
	struct captions c = {0};

	err[0] = '\0';
	CHECK(captions_parse(&c, text, strlen(text), format, split, err, sizeof err) == -1);
	if (!CHECK(strcmp(err, want) == 0))
		fprintf(stderr, "  got \"%s\", want \"%s\"\n", err, want);
	captions_free(&c);
}

/* The JSON array of key's captions, or "none" when key is absent. */
static int
has(const struct captions *c, const char *key, const char *want)
{
	struct capentry *e = captions_find(c, key);
	char *got = e ? captions_json(e) : estrdup("none");
	int ok = strcmp(got, want) == 0;

	if (!ok)
		fprintf(stderr, "  %s: got %s, want %s\n", key, got, want);
	free(got);
	return ok;
}

static void
test_flickr30k(void)
{
	struct captions c;

	if (parse(&c, "image_name| comment_number| comment\r\n"
	    "1000092795.jpg| 0| Two young guys .\r\n"
	    "1000092795.jpg| 1|  Two men | outside  \r\n"
	    "\n"
	    "2199200615.jpg| 4   A dog runs across the grass .\n"
	    "flickr30k_images/3.jpg|0|x", CAP_UNKNOWN, SPLIT_ALL))
		return;
	CHECK(c.format == CAP_FLICKR30K);
	CHECK(c.n == 3 && c.ncaptions == 4);
	CHECK(has(&c, "1000092795.jpg", "[\"Two young guys .\",\"Two men | outside\"]"));
	CHECK(has(&c, "2199200615.jpg", "[\"A dog runs across the grass .\"]"));
	CHECK(has(&c, "3.jpg", "[\"x\"]"));
	CHECK(has(&c, "image_name", "none"));
	captions_free(&c);
	parse_fails("a.jpg| 0| ok\nb.jpg| x| no\n", CAP_UNKNOWN, SPLIT_ALL,
	    ":2: expected image_name| comment_number| comment");
	parse_fails("a.jpg| 0| ok\nb.jpg|fourA dog\n", CAP_FLICKR30K, SPLIT_ALL,
	    ":2: expected image_name| comment_number| comment");
	parse_fails("a.jpg| 0| ok\n| 1| no name\n", CAP_FLICKR30K, SPLIT_ALL,
	    ":2: expected image_name| comment_number| comment");
	parse_fails("a.jpg| 0| ok\nb.jpg| 1| \xff\n", CAP_FLICKR30K, SPLIT_ALL,
	    ":2: invalid UTF-8 (byte 0xFF at column 11)");
}

static void
test_flickr8k(void)
{
	struct captions c;

	if (parse(&c, "\xEF\xBB\xBF" "a.jpg#0\tA child .\n"
	    "b.jpg#0\tA \"quoted\" caption\\ .\n"
	    "a.jpg#1\tA girl .\n"
	    "c.jpg\tkeyed, like bleu --tsv\n"
	    "d#e.jpg#12\tx\n", CAP_UNKNOWN, SPLIT_ALL))
		return;
	CHECK(c.format == CAP_FLICKR8K);
	CHECK(has(&c, "a.jpg", "[\"A child .\",\"A girl .\"]"));
	CHECK(has(&c, "b.jpg", "[\"A \\\"quoted\\\" caption\\\\ .\"]"));
	CHECK(has(&c, "c.jpg", "[\"keyed, like bleu --tsv\"]"));
	CHECK(has(&c, "d#e.jpg", "[\"x\"]"));
	CHECK(c.n == 4 && strcmp(c.v[0].key, "a.jpg") == 0 && strcmp(c.v[3].key, "d#e.jpg") == 0);
	captions_free(&c);
	parse_fails("a.jpg#0\tok\nno tab\n", CAP_FLICKR8K, SPLIT_ALL,
	    ":2: expected name.jpg#i<TAB>caption");
	parse_fails("#0\tno name\n", CAP_FLICKR8K, SPLIT_ALL, ":1: empty image name");
}

static void
test_coco(void)
{
	struct captions c;

	if (parse(&c, " {\"info\": {}, \"images\": [{\"id\": 9, \"file_name\": \"COCO_9.jpg\"},"
	    "{\"id\": 3, \"file_name\": \"val2014/COCO_3.jpg\"}, {\"id\": 4, \"file_name\": \"e.jpg\"}],"
	    "\"annotations\": [{\"image_id\": 3, \"id\": 1, \"caption\": \"three \\u00e9 \"},"
	    "{\"image_id\": 9, \"caption\": \"nine\"}, {\"image_id\": 3, \"caption\": \"again\"}]}",
	    CAP_UNKNOWN, SPLIT_ALL))
		return;
	CHECK(c.format == CAP_COCO);
	CHECK(has(&c, "COCO_3.jpg", "[\"three \xC3\xA9\",\"again\"]"));
	CHECK(has(&c, "COCO_9.jpg", "[\"nine\"]"));
	CHECK(has(&c, "e.jpg", "[]"));
	CHECK(c.ncaptions == 3);
	captions_free(&c);
	parse_fails("{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\"}], \"annotations\":"
	    " [{\"image_id\": 2, \"caption\": \"x\"}]}", CAP_UNKNOWN, SPLIT_ALL,
	    ": annotations[0]: image_id 2 is not among the images");
	parse_fails("{\"images\": [{\"id\": \"1\", \"file_name\": \"a.jpg\"}], \"annotations\": []}",
	    CAP_COCO, SPLIT_ALL, ": images[0]: expected integer \"id\" and string \"file_name\"");
	parse_fails("{\"images\": [], \"annotations\": [}", CAP_COCO, SPLIT_ALL,
	    ":1: unexpected token near '}'");
}

static const char karpathy[] = "{\"images\": ["
    "{\"filename\": \"a.jpg\", \"split\": \"train\", \"sentences\": [{\"raw\": \"A .\"}, {\"raw\": \"B\"}]},"
    "{\"filename\": \"b.jpg\", \"split\": \"restval\", \"sentences\": [{\"raw\": \"C\"}]},"
    "{\"filename\": \"c.jpg\", \"split\": \"val\", \"sentences\": [{\"raw\": \"D\"}]},"
    "{\"filename\": \"d.jpg\", \"split\": \"test\", \"sentences\": [{\"raw\": \"E\", \"tokens\": []}]}"
    "], \"dataset\": \"flickr8k\"}";

static void
test_karpathy(void)
{
	struct captions c;

	if (parse(&c, karpathy, CAP_UNKNOWN, SPLIT_ALL))
		return;
	CHECK(c.format == CAP_KARPATHY && c.n == 4 && c.ncaptions == 5);
	captions_free(&c);
	if (parse(&c, karpathy, CAP_KARPATHY, SPLIT_TRAIN))
		return;
	CHECK(c.n == 2);
	CHECK(has(&c, "a.jpg", "[\"A .\",\"B\"]") && has(&c, "b.jpg", "[\"C\"]"));
	CHECK(has(&c, "c.jpg", "none"));
	captions_free(&c);
	if (parse(&c, karpathy, CAP_UNKNOWN, SPLIT_VAL))
		return;
	CHECK(c.n == 1 && has(&c, "c.jpg", "[\"D\"]"));
	captions_free(&c);
	if (parse(&c, karpathy, CAP_UNKNOWN, SPLIT_TEST))
		return;
	CHECK(c.n == 1 && has(&c, "d.jpg", "[\"E\"]"));
	captions_free(&c);
	parse_fails("a.jpg#0\tx\n", CAP_UNKNOWN, SPLIT_TEST,
	    ": --split needs Karpathy's dataset_*.json, not a flickr8k file");
}

static void
test_detect(void)
{
	static const struct {
		const char *text;
		int format;
	} cases[] = {
		{"image_name| comment_number| comment\n", CAP_FLICKR30K},
		{"\n\n  a.jpg#0\tx | y\n", CAP_FLICKR8K},
		{"odd|name#0\tx\n", CAP_FLICKR30K},     /* why --format exists */
		{"{\"annotations\": [], \"images\": []}", CAP_COCO},
		{"{\"images\": [{\"sentences\": []}]}", CAP_KARPATHY},
		{"{\"images\": []}", CAP_UNKNOWN},
		{"[1, 2]", CAP_UNKNOWN},
		{"just words\n", CAP_UNKNOWN},
		{"", CAP_UNKNOWN},
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (!CHECK(captions_detect(cases[i].text, strlen(cases[i].text)) == cases[i].format))
			fprintf(stderr, "  case %zu\n", i);
	parse_fails("just words\n", CAP_UNKNOWN, SPLIT_ALL,
	    ": not a caption file in a known format (see --format)");
	CHECK(captions_format_parse("coco") == CAP_COCO);
	CHECK(captions_format_parse("COCO") == CAP_UNKNOWN);
	CHECK(strcmp(captions_format_name(CAP_FLICKR8K), "flickr8k") == 0);
	CHECK(captions_format_name(CAP_UNKNOWN) == NULL);
}

/* Enough keys to grow the table many times; every one still found. */
static void
test_many_keys(void)
{
	struct captions c = {0};
	struct buf text = {0};
	char line[64], key[32];
	int i, ok = 1;

	for (i = 0; i < 20000; i++) {
		snprintf(line, sizeof line, "%d.jpg#0\tcaption %d\n", i, i);
		buf_append(&text, line, strlen(line));
	}
	buf_append(&text, "", 1);
	if (parse(&c, text.p, CAP_UNKNOWN, SPLIT_ALL) == 0) {
		CHECK(c.n == 20000);
		for (i = 0; i < 20000 && ok; i++) {
			snprintf(key, sizeof key, "%d.jpg", i);
			snprintf(line, sizeof line, "[\"caption %d\"]", i);
			ok = CHECK(has(&c, key, line));
		}
		CHECK(captions_find(&c, "20000.jpg") == NULL);
		CHECK(captions_entry(&c, "new.jpg")->n == 0 && c.n == 20001);
		CHECK(captions_entry(&c, "7.jpg") == captions_find(&c, "7.jpg"));
	}
	captions_free(&c);
	buf_free(&text);
}

static void
test_inputs_names(void)
{
	CHECK(inputs_is_image("a.jpg") && inputs_is_image("d/A.JPEG") && inputs_is_image("x.Png"));
	CHECK(inputs_is_image("./sub/a.jpg") && inputs_is_image("../a.jpg"));
	CHECK(!inputs_is_image("a.gif") && !inputs_is_image("jpg") && !inputs_is_image("a.jpg.txt"));
	CHECK(!inputs_is_image("._a.jpg") && !inputs_is_image("d/._a.jpg"));
	CHECK(!inputs_is_image(".git/a.jpg") && !inputs_is_image("__MACOSX/d/a.jpg"));
	CHECK(!inputs_is_image("d/__MACOSX/a.jpg"));
	CHECK(inputs_is_archive("a.zip") && inputs_is_archive("a.TAR.GZ") && inputs_is_archive("a.tgz"));
	CHECK(!inputs_is_archive("a.gz") && !inputs_is_archive("a.jpg"));
}

int
main(int argc, char *argv[])
{
	(void)argc;
	setprogname(argv[0]);
	test_flickr30k();
	test_flickr8k();
	test_coco();
	test_karpathy();
	test_detect();
	test_many_keys();
	test_inputs_names();
	if (failures)
		fprintf(stderr, "test_captions: %d checks failed\n", failures);
	else
		printf("test_captions: all passed\n");
	return failures != 0;
}
