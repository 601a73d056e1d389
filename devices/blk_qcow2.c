#include "blk_qcow2.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk_qcow2_internal.h"
#include "errmsg.h"
#include "fd_io.h"
#include "log.h"

static int open_chain(int fd, bool own, const char *path, bool readonly, int depth,
		      struct qcow2 **out, char *err, size_t errlen);

static uint32_t be32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static uint64_t be64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

bool qcow2__probe(int fd)
{
	uint8_t m[4];

	return pread(fd, m, sizeof(m), 0) == sizeof(m) && be32_at(m) == QCOW2_MAGIC;
}

/* A table's byte range must be cluster aligned and lie inside the file. */
static bool range_ok(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	return off && !(off & (q->cluster - 1)) && off <= q->file_end &&
	       len <= q->file_end - off;
}

static int check_features(const uint8_t *h, uint32_t version, bool readonly,
			  const char *path, char *err, size_t errlen)
{
	uint64_t inc;
	uint32_t order;

	if (be32_at(h + 32))
		return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: encrypted images are "
				    "not supported", path);
	if (be32_at(h + 60) && !readonly)
		return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: internal snapshots "
				    "are present (%u): only readonly=on is supported then",
				    path, be32_at(h + 60));
	if (version == 2)
		return 0;
	inc = be64_at(h + 72);
	order = be32_at(h + 96);
	if (inc & INCOMPAT_CORRUPT)
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: the image is marked "
				    "corrupt (run qemu-img check -r all)", path);
	if (inc & INCOMPAT_DATA_FILE)
		return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: external data files "
				    "are not supported", path);
	if (inc & INCOMPAT_COMPRESSION)
		return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: compressed clusters "
				    "are not supported", path);
	if (inc & INCOMPAT_EXTL2)
		return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: extended L2 entries "
				    "(subclusters) are not supported", path);
	if (inc & ~INCOMPAT_DIRTY)
		return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: unknown incompatible "
				    "features 0x%llx", path, (unsigned long long)inc);
	if (order != 4)
		return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: refcount order %u: only "
				    "16-bit refcounts (order 4) are supported", path, order);
	return 0;
}

static int read_table(struct qcow2 *q, uint64_t off, uint64_t n, uint64_t **out)
{
	uint64_t *t = malloc(n ? n * 8 : 8);
	uint64_t i;
	int ret;

	if (!t)
		return -ENOMEM;
	ret = fd__pread_zero_tail(q->fd, t, n * 8, off);
	if (ret) {
		free(t);
		return ret;
	}
	for (i = 0; i < n; i++)
		t[i] = be64toh(t[i]);
	*out = t;
	return 0;
}

static int parse_geometry(struct qcow2 *q, const uint8_t *h, const char *path, char *err,
			  size_t errlen)
{
	uint64_t per_l1, need, rt_clusters;

	q->cluster_bits = be32_at(h + 20);
	if (q->cluster_bits < 9 || q->cluster_bits > 21)
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: cluster bits %u (512 B "
				    "to 2 MiB are supported)", path, q->cluster_bits);
	q->cluster = 1ull << q->cluster_bits;
	q->l2_entries = q->cluster / 8;
	q->rb_entries = q->cluster / 2;
	q->size = be64_at(h + 24);
	if (!q->size || q->size % 512 || q->size > MAX_VIRT_SIZE)
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: virtual size %llu is not "
				    "a non-zero multiple of 512 up to 2^55", path,
				    (unsigned long long)q->size);
	q->l1_size = be32_at(h + 36);
	q->l1_off = be64_at(h + 40);
	per_l1 = q->cluster * q->l2_entries;
	need = (q->size + per_l1 - 1) / per_l1;
	if (q->l1_size < need || (uint64_t)q->l1_size * 8 > MAX_TABLE_BYTES)
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: L1 size %u does not fit "
				    "the virtual size (%llu entries needed)", path, q->l1_size,
				    (unsigned long long)need);
	if (!range_ok(q, q->l1_off, (uint64_t)q->l1_size * 8))
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: L1 table offset 0x%llx "
				    "is unaligned or outside the file", path,
				    (unsigned long long)q->l1_off);
	q->reftable_off = be64_at(h + 48);
	rt_clusters = be32_at(h + 56);
	q->reftable_entries = rt_clusters * q->cluster / 8;
	if (!rt_clusters || rt_clusters * q->cluster > MAX_TABLE_BYTES ||
	    !range_ok(q, q->reftable_off, rt_clusters * q->cluster))
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: refcount table (0x%llx, "
				    "%llu clusters) is empty, unaligned or outside the file",
				    path, (unsigned long long)q->reftable_off,
				    (unsigned long long)rt_clusters);
	return 0;
}

/* Every entry of the L2 table at off: a compressed cluster is refused by
 * name here, at open, rather than failing a guest's read later. */
static int check_l2_table(struct qcow2 *q, uint64_t off, const char *path, char *err,
			  size_t errlen)
{
	uint64_t j, e, host;
	int ret;

	ret = fd__pread_zero_tail(q->fd, q->buf, q->cluster, off);
	if (ret)
		return errmsg__fail(ret, err, errlen, "qcow2 %s: reading an L2 table: %s",
				    path, strerror(-ret));
	for (j = 0; j < q->l2_entries; j++) {
		e = be64_at(q->buf + j * 8);
		host = e & OFFSET_MASK;
		if (e & L2_COMPRESSED)
			return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: compressed "
					    "clusters are not supported (convert without -c)",
					    path);
		if ((e & L2_RESERVED) || (host && !range_ok(q, host, q->cluster)))
			return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: L2 entry 0x%llx "
					    "at 0x%llx is invalid", path, (unsigned long long)e,
					    (unsigned long long)(off + j * 8));
	}
	return 0;
}

static int check_tables(struct qcow2 *q, const char *path, char *err, size_t errlen)
{
	int ret;

	uint64_t i, e;

	for (i = 0; i < q->l1_size; i++) {
		e = q->l1[i];
		if ((e & L1_RESERVED) || ((e & OFFSET_MASK) &&
					  !range_ok(q, e & OFFSET_MASK, q->cluster)))
			return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: L1 entry %llu "
					    "(0x%llx) is invalid", path,
					    (unsigned long long)i, (unsigned long long)e);
		if (e & OFFSET_MASK) {
			ret = check_l2_table(q, e & OFFSET_MASK, path, err, errlen);
			if (ret)
				return ret;
		}
	}
	for (i = 0; i < q->reftable_entries; i++) {
		e = q->reftable[i];
		if ((e & 0x1ff) || (e && !range_ok(q, e, q->cluster)))
			return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: refcount table "
					    "entry %llu (0x%llx) is invalid", path,
					    (unsigned long long)i, (unsigned long long)e);
	}
	return 0;
}

/* Header extensions: only the backing format matters here. */
static int parse_extensions(const uint8_t *c, uint64_t start, uint64_t end, char *fmt,
			    size_t fmtlen, const char *path, char *err, size_t errlen)
{
	uint64_t p = start;
	uint32_t type, len;

	fmt[0] = '\0';
	while (p + 8 <= end) {
		type = be32_at(c + p);
		len = be32_at(c + p + 4);
		if (type == EXT_END)
			return 0;
		if (len > end - p - 8)
			return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: header extension "
					    "0x%x runs past the header cluster", path, type);
		if (type == EXT_BACKING_FMT) {
			if (!len || len >= fmtlen)
				return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: backing "
						    "format name of %u bytes", path, len);
			memcpy(fmt, c + p + 8, len);
			fmt[len] = '\0';
		}
		p += 8 + (((uint64_t)len + 7) & ~7ull);
	}
	return 0;
}

static int open_backing(struct qcow2 *q, const char *name, const char *fmt,
			const char *path, int depth, char *err, size_t errlen)
{
	char full[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;
	bool is_qcow2;
	int fd;

	if (name[0] == '/' || !slash)
		snprintf(full, sizeof(full), "%s", name);
	else
		snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - path), path, name);
	if (depth >= MAX_CHAIN)
		return errmsg__fail(-ELOOP, err, errlen, "qcow2 %s: backing chain deeper "
				    "than %d", path, MAX_CHAIN);
	q->back_path = strdup(full);
	if (!q->back_path)
		return errmsg__fail(-ENOMEM, err, errlen, "qcow2: out of memory");
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg__fail(-errno, err, errlen, "qcow2 %s: backing file %s: %s",
				    path, full, strerror(errno));
	is_qcow2 = fmt[0] ? !strcmp(fmt, "qcow2") : qcow2__probe(fd);
	if (fmt[0] && strcmp(fmt, "qcow2") && strcmp(fmt, "raw")) {
		close(fd);
		return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: backing format %s "
				    "(raw and qcow2 are supported)", path, fmt);
	}
	if (is_qcow2)
		return open_chain(fd, true, full, true, depth + 1, &q->back_q, err, errlen);
	if (fstat(fd, &st)) {
		close(fd);
		return errmsg__fail(-errno, err, errlen, "qcow2 %s: backing file %s: %s",
				    path, full, strerror(errno));
	}
	q->back_fd = fd;
	q->back_size = (uint64_t)st.st_size;
	return 0;
}

static int parse_header(struct qcow2 *q, const char *path, int depth, char *err,
			size_t errlen)
{
	uint8_t h[HDR_V3_LEN] = { 0 };
	char fmt[16], name[BACKING_NAME_MAX + 1];
	uint64_t hdr_len = HDR_V2_LEN, bf_off, ext_end;
	uint32_t version, bf_len;
	int ret;

	ret = fd__pread_zero_tail(q->fd, h, sizeof(h), 0);
	if (ret)
		return errmsg__fail(ret, err, errlen, "qcow2 %s: %s", path, strerror(-ret));
	if (be32_at(h) != QCOW2_MAGIC)
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: no qcow2 magic", path);
	version = be32_at(h + 4);
	if (version != 2 && version != 3)
		return errmsg__fail(-ENOTSUP, err, errlen, "qcow2 %s: version %u (2 and 3 "
				    "are supported)", path, version);
	q->version = version;
	ret = check_features(h, version, q->readonly, path, err, errlen);
	if (!ret)
		ret = parse_geometry(q, h, path, err, errlen);
	if (ret)
		return ret;
	if (version == 3) {
		hdr_len = be32_at(h + 100);
		if (hdr_len < HDR_V3_LEN || hdr_len % 8 || hdr_len > q->cluster)
			return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: header length "
					    "%llu", path, (unsigned long long)hdr_len);
	}
	q->buf = malloc(q->cluster);
	if (!q->buf)
		return -ENOMEM;
	ret = fd__pread_zero_tail(q->fd, q->buf, q->cluster, 0);
	if (ret)
		return errmsg__fail(ret, err, errlen, "qcow2 %s: %s", path, strerror(-ret));
	bf_off = be64_at(h + 8);
	bf_len = be32_at(h + 16);
	ext_end = bf_off ? bf_off : q->cluster;
	if (bf_off && (!bf_len || bf_len > BACKING_NAME_MAX || bf_off < hdr_len ||
		       bf_off > q->cluster - bf_len))
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: backing file name "
				    "(offset %llu, %u bytes) is outside the header cluster",
				    path, (unsigned long long)bf_off, bf_len);
	ret = parse_extensions(q->buf, hdr_len, ext_end, fmt, sizeof(fmt), path, err,
			       errlen);
	if (ret || !bf_off)
		return ret;
	memcpy(name, q->buf + bf_off, bf_len);
	name[bf_len] = '\0';
	if (strlen(name) != bf_len)
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: backing file name "
				    "holds a NUL byte", path);
	return open_backing(q, name, fmt, path, depth, err, errlen);
}

/* The L1 and refcount tables as the header (already parsed) places them;
 * file_end holds the file's size on entry. */
static int load_tables(struct qcow2 *q, const char *path, char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	q->file_end = (q->file_end + q->cluster - 1) & ~(q->cluster - 1);
	free(q->l1);
	free(q->reftable);
	q->l1 = q->reftable = NULL;
	for (i = 0; i < L2_CACHE_SLOTS; i++)
		q->cache[i].off = 0;
	ret = read_table(q, q->l1_off, q->l1_size, &q->l1);
	if (!ret)
		ret = read_table(q, q->reftable_off, q->reftable_entries, &q->reftable);
	if (ret)
		return errmsg__fail(ret, err, errlen, "qcow2 %s: reading its tables: %s", path,
				    strerror(-ret));
	return check_tables(q, path, err, errlen);
}

int qcow2__refresh(struct qcow2 *q, char *err, size_t errlen)
{
	uint8_t h[HDR_V3_LEN] = { 0 };
	unsigned int bits = q->cluster_bits;
	struct stat st;
	int ret;

	/* Our own entries first: the tables are read again below. */
	ret = qcow2_write_pending(q);
	if (ret)
		return errmsg__fail(ret, err, errlen, "qcow2 %s: writing its tables: %s",
				    q->path, strerror(-ret));
	ret = fd__pread_zero_tail(q->fd, h, sizeof(h), 0);
	if (!ret && fstat(q->fd, &st))
		ret = -errno;
	if (ret)
		return errmsg__fail(ret, err, errlen, "qcow2 %s: %s", q->path, strerror(-ret));
	q->file_end = (uint64_t)st.st_size;
	if (be32_at(h) != QCOW2_MAGIC || be32_at(h + 20) != bits)
		return errmsg__fail(-EINVAL, err, errlen, "qcow2 %s: the header changed "
				    "under us", q->path);
	ret = check_features(h, be32_at(h + 4), q->readonly, q->path, err, errlen);
	if (!ret)
		ret = parse_geometry(q, h, q->path, err, errlen);
	if (!ret)
		ret = load_tables(q, q->path, err, errlen);
	return ret;
}

static int open_chain(int fd, bool own, const char *path, bool readonly, int depth,
		      struct qcow2 **out, char *err, size_t errlen)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	struct stat st;
	int ret;

	if (!q) {
		if (own)
			close(fd);
		return errmsg__fail(-ENOMEM, err, errlen, "qcow2: out of memory");
	}
	q->fd = fd;
	q->own_fd = own;
	q->readonly = readonly;
	q->back_fd = -1;
	if (fstat(fd, &st)) {
		ret = errmsg__fail(-errno, err, errlen, "qcow2 %s: %s", path, strerror(errno));
		goto err_close;
	}
	q->file_end = (uint64_t)st.st_size;
	ret = parse_header(q, path, depth, err, errlen);
	if (ret)
		goto err_close;
	ret = load_tables(q, path, err, errlen);
	if (ret)
		goto err_close;
	q->path = strdup(path);
	if (!q->path) {
		ret = errmsg__fail(-ENOMEM, err, errlen, "qcow2: out of memory");
		goto err_close;
	}
	*out = q;
	return 0;

err_close:
	qcow2__close(q);
	return ret;
}

int qcow2__open(int fd, const char *path, bool readonly, struct qcow2 **out,
		char *err, size_t errlen)
{
	return open_chain(fd, false, path, readonly, 0, out, err, errlen);
}

uint64_t qcow2__size(const struct qcow2 *q)
{
	return q->size;
}

uint64_t qcow2__cluster_size(const struct qcow2 *q)
{
	return q->cluster;
}

void qcow2__close(struct qcow2 *q)
{
	unsigned int i;

	if (!q)
		return;
	/* The drive flushes before it closes (blk_backend__stop): this is
	 * for any other path, which has no error to return. */
	if (q->pending && qcow2__flush(q))
		log_error("qcow2 %s: writing its tables at close failed: the image "
			  "lacks its last allocations", q->path);
	for (i = 0; i < L2_CACHE_SLOTS; i++)
		free(q->cache[i].t);
	free(q->l1);
	free(q->reftable);
	free(q->buf);
	free(q->path);
	free(q->back_path);
	qcow2__close(q->back_q);
	if (q->back_fd >= 0)
		close(q->back_fd);
	if (q->own_fd)
		close(q->fd);
	free(q);
}
