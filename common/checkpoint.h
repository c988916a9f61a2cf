/* checkpoint.h: the model checkpoint, one safetensors file that PyTorch loads
 * (DESIGN.md, "Checkpoint contract"): F32 tensors named and shaped as the
 * parameter table says, __metadata__ format "pt", config (JSON) and vocab (the
 * vocabulary file's text, opaque here). These functions work on host records;
 * model.c moves the tensors to and from the device. */
#ifndef VITCAP_CHECKPOINT_H
#define VITCAP_CHECKPOINT_H

#include "config.h"
#include "params.h"
#include "stream.h"

#include <stddef.h>

/* Empties rec and fills it with a checkpoint's metadata and its tensors, zeroed,
 * in table order (rec->t[i] is t->v[i]), ready to be filled in place. vocab may
 * be NULL (stored as ""). */
void checkpoint_record(struct record *rec, const struct config *c,
    const struct param_table *t, const char *vocab);

/* Reads the checkpoint at path into rec and checks it against the config in its
 * metadata: exactly one record, a valid config with a vocabulary size, and
 * exactly the table's tensors, F32, with the table's shapes (extra or missing
 * tensors are errors, as with load_state_dict(strict=True)). On success c and t
 * (free with param_table_free) describe it and rec->t[i] is t->v[i]. Returns 0,
 * or -1 with err "PATH: what is wrong", naming the tensor or metadata key. */
int checkpoint_read(const char *path, struct record *rec, struct config *c,
    struct param_table *t, char *err, size_t errsz);

/* Writes rec to path atomically: a temporary file in the same directory,
 * written, fsync'd, renamed over path, then the directory fsync'd, so a crash
 * leaves the old file or the new one. Returns 0, or -1 with err. */
int record_save(const char *path, const struct record *rec, char *err, size_t errsz);

#endif
