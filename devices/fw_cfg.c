#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* QEMU's fw_cfg, legacy port interface only: enough for a guest (or
 * firmware) to detect it and read RAM size and CPU count.
 *
 * Port 0x510 (selector) and 0x511 (data) form one combined region, decoded
 * the way QEMU decodes it: a 16-bit write selects an item and rewinds to
 * its start; a byte write is a data write, which the legacy interface
 * ignores, and other widths are ignored too; a byte read at either port
 * returns the next data byte.
 * A wider read returns that many successive data bytes (QEMU refuses such
 * reads; no known guest issues them). Reads past the end of an item return
 * zero and no longer advance, so the offset never exceeds the item length.
 */

#define FW_CFG_PORT		0x510
#define FW_CFG_NR_PORTS		2
#define FW_CFG_STATE_V1		1

#define FW_CFG_SIGNATURE	0x0000
#define FW_CFG_ID		0x0001
#define FW_CFG_RAM_SIZE		0x0003
#define FW_CFG_NB_CPUS		0x0005
#define FW_CFG_FILE_DIR		0x0019
#define FW_CFG_ARCH_LOCAL	0x8000
#define FW_CFG_ENTRY_MASK	0x3fff	/* bit 14 (write channel) is ignored */

#define FW_CFG_ID_TRADITIONAL	1

struct fw_cfg_item {
	const uint8_t *data;
	uint32_t len;
};

struct fw_cfg {
	struct device dev;
	pthread_mutex_t lock;
	uint16_t selector;
	uint32_t offset;
	/* Item contents come from the config, never from a saved stream. */
	uint8_t signature[4];
	uint8_t id[4];
	uint8_t ram_size[8];
	uint8_t nb_cpus[2];
	uint8_t file_dir[4];
};

static struct fw_cfg *to_fw_cfg(struct device *dev)
{
	return (struct fw_cfg *)((char *)dev - offsetof(struct fw_cfg, dev));
}

/* Unknown selectors are an empty item, so they read as zeros. */
static struct fw_cfg_item lookup(const struct fw_cfg *f, uint16_t selector)
{
	struct fw_cfg_item none = { NULL, 0 };

	if (selector & FW_CFG_ARCH_LOCAL)
		return none;
	switch (selector & FW_CFG_ENTRY_MASK) {
	case FW_CFG_SIGNATURE:
		return (struct fw_cfg_item){ f->signature, sizeof(f->signature) };
	case FW_CFG_ID:
		return (struct fw_cfg_item){ f->id, sizeof(f->id) };
	case FW_CFG_RAM_SIZE:
		return (struct fw_cfg_item){ f->ram_size, sizeof(f->ram_size) };
	case FW_CFG_NB_CPUS:
		return (struct fw_cfg_item){ f->nb_cpus, sizeof(f->nb_cpus) };
	case FW_CFG_FILE_DIR:
		return (struct fw_cfg_item){ f->file_dir, sizeof(f->file_dir) };
	default:
		return none;
	}
}

static uint8_t read_data(struct fw_cfg *f)
{
	struct fw_cfg_item item = lookup(f, f->selector);

	if (f->offset >= item.len)
		return 0;
	return item.data[f->offset++];
}

static void fw_cfg_io(void *opaque, uint64_t addr, uint8_t *data, uint32_t len,
		      bool is_write)
{
	struct fw_cfg *f = opaque;
	uint32_t i;

	pthread_mutex_lock(&f->lock);
	if (!is_write) {
		for (i = 0; i < len; i++)
			data[i] = read_data(f);
	} else if (len == 2) {
		f->selector = (uint16_t)(data[0] | data[1] << 8);
		f->offset = 0;
	}
	pthread_mutex_unlock(&f->lock);
}

/* What fw_cfg saves: where the guest is in which item. */
struct fw_cfg_pos {
	uint16_t selector;
	uint32_t offset;
};

/* Payload v1: selector (u16), offset (u32); one list saves and loads. */
static void fw_cfg_fields(struct wire_walk *w, struct fw_cfg_pos *p)
{
	wire_walk__u16(w, &p->selector);
	wire_walk__u32(w, &p->offset);
}

static int fw_cfg_save(struct device *dev, struct wbuf *out)
{
	struct fw_cfg *f = to_fw_cfg(dev);
	struct wire_walk w = { .out = out };
	struct fw_cfg_pos p;

	pthread_mutex_lock(&f->lock);
	p = (struct fw_cfg_pos){ f->selector, f->offset };
	pthread_mutex_unlock(&f->lock);
	fw_cfg_fields(&w, &p);
	return out->err;
}

static int fw_cfg_load(struct device *dev, struct rbuf *in, uint32_t version)
{
	struct fw_cfg *f = to_fw_cfg(dev);
	struct wire_walk w = { .in = in };
	struct fw_cfg_pos p;

	if (version != FW_CFG_STATE_V1)
		return -EPROTONOSUPPORT;
	fw_cfg_fields(&w, &p);
	if (in->err || rbuf__remaining(in))
		return -EBADMSG;
	/* Item lengths are fixed by the config; reading never moves the
	 * offset past the end. */
	if (p.offset > lookup(f, p.selector).len)
		return -EBADMSG;

	pthread_mutex_lock(&f->lock);
	f->selector = p.selector;
	f->offset = p.offset;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void fw_cfg_destroy(struct device *dev)
{
	struct fw_cfg *f;

	if (!dev)
		return;
	f = to_fw_cfg(dev);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static void fill_items(struct fw_cfg *f, const struct fw_cfg_config *cfg)
{
	memcpy(f->signature, "QEMU", 4);
	wire__le32(f->id, FW_CFG_ID_TRADITIONAL);
	wire__le64(f->ram_size, cfg->ram_size);
	f->nb_cpus[0] = (uint8_t)cfg->nb_cpus;
	f->nb_cpus[1] = (uint8_t)(cfg->nb_cpus >> 8);
	/* The file directory's count is big endian; zero files. */
	memset(f->file_dir, 0, sizeof(f->file_dir));
}

struct device *fw_cfg__create(struct io_bus *pio, const struct fw_cfg_config *cfg)
{
	struct fw_cfg *f;
	int ret;

	if (!pio || !cfg) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->dev = (struct device){
		.name = "fw_cfg",
		.state_version = FW_CFG_STATE_V1,
		.save = fw_cfg_save,
		.load = fw_cfg_load,
		.destroy = fw_cfg_destroy,
	};
	fill_items(f, cfg);
	ret = pthread_mutex_init(&f->lock, NULL);
	if (ret)
		goto err_free;
	ret = -io_bus__register(pio, FW_CFG_PORT, FW_CFG_NR_PORTS, fw_cfg_io, f);
	if (ret)
		goto err_mutex;
	return &f->dev;

err_mutex:
	pthread_mutex_destroy(&f->lock);
err_free:
	free(f);
	errno = ret;
	return NULL;
}
