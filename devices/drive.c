#include "drive.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"

/* Copies the value starting at *p up to the next lone comma into out,
 * turning ",," into ","; advances *p past the value and its comma. */
static int take_value(const char **p, char *out, size_t cap)
{
	const char *s = *p;
	size_t n = 0;

	while (*s && !(s[0] == ',' && s[1] != ',')) {
		if (s[0] == ',')
			s++;
		if (n + 1 >= cap)
			return -ENAMETOOLONG;
		out[n++] = *s++;
	}
	out[n] = '\0';
	*p = *s ? s + 1 : s;
	return 0;
}

static int set_bool(const char *key, const char *v, bool *out, char *err, size_t errlen)
{
	if (!strcmp(v, "on") || !strcmp(v, "true")) {
		*out = true;
	} else if (!strcmp(v, "off") || !strcmp(v, "false")) {
		*out = false;
	} else {
		errmsg__set(err, errlen, "--drive: %s=%s: expected on or off", key, v);
		return -EINVAL;
	}
	return 0;
}

static int set_base_digest(struct drive_config *d, const char *v, char *err, size_t errlen)
{
	if (!strcmp(v, "auto")) {
		d->base_digest = DRIVE_BASE_DIGEST_AUTO;
	} else if (!strcmp(v, "ahead")) {
		d->base_digest = DRIVE_BASE_DIGEST_AHEAD;
	} else if (!strcmp(v, "lazy")) {
		d->base_digest = DRIVE_BASE_DIGEST_LAZY;
	} else {
		errmsg__set(err, errlen, "--drive: base-digest=%s: expected auto, ahead or lazy", v);
		return -EINVAL;
	}
	return 0;
}

static int set_key(struct drive_config *d, const char *key, const char *v, bool *have_file,
		   char *err, size_t errlen)
{
	if (!strcmp(key, "file")) {
		if (!*v) {
			errmsg__set(err, errlen, "--drive: file= needs a path");
			return -EINVAL;
		}
		snprintf(d->path, sizeof(d->path), "%s", v);
		*have_file = true;
	} else if (!strcmp(key, "format")) {
		if (!strcmp(v, "qcow2")) {
			d->format = DRIVE_FORMAT_QCOW2;
		} else if (!strcmp(v, "raw")) {
			d->format = DRIVE_FORMAT_RAW;
		} else {
			errmsg__set(err, errlen, "--drive: format=%s: expected raw or qcow2", v);
			return -EINVAL;
		}
	} else if (!strcmp(key, "readonly")) {
		return set_bool(key, v, &d->readonly, err, errlen);
	} else if (!strcmp(key, "cache")) {
		if (!strcmp(v, "none")) {
			d->cache = DRIVE_CACHE_NONE;
		} else if (!strcmp(v, "writeback")) {
			d->cache = DRIVE_CACHE_WRITEBACK;
		} else {
			errmsg__set(err, errlen, "--drive: cache=%s: expected none or writeback", v);
			return -EINVAL;
		}
	} else if (!strcmp(key, "base-digest")) {
		return set_base_digest(d, v, err, errlen);
	} else {
		errmsg__set(err, errlen, "--drive: unknown key \"%s\" (file, format, "
			     "readonly, cache, base-digest)", key);
		return -EINVAL;
	}
	return 0;
}

int drive__parse(const char *spec, struct drive_config *d, char *err, size_t errlen)
{
	char key[16], val[DRIVE_PATH_MAX];
	bool have_file = false, have_digest = false;
	const char *p = spec, *eq;
	size_t klen;
	int ret;

	memset(d, 0, sizeof(*d));
	while (*p) {
		eq = strchr(p, '=');
		klen = eq ? (size_t)(eq - p) : 0;
		if (!eq || !klen || klen >= sizeof(key) || memchr(p, ',', klen)) {
			errmsg__set(err, errlen, "--drive: expected key=value at \"%.40s\"", p);
			return -EINVAL;
		}
		memcpy(key, p, klen);
		key[klen] = '\0';
		p = eq + 1;
		if (take_value(&p, val, sizeof(val))) {
			errmsg__set(err, errlen, "--drive: %s= is longer than %d bytes", key,
				     DRIVE_PATH_MAX - 1);
			return -EINVAL;
		}
		ret = set_key(d, key, val, &have_file, err, errlen);
		if (ret)
			return ret;
		have_digest |= !strcmp(key, "base-digest");
	}
	if (!have_file) {
		errmsg__set(err, errlen, "--drive: file=PATH is required");
		return -EINVAL;
	}
	/* Said, not ignored: only a qcow2 image has a base to hash. */
	if (have_digest && d->format != DRIVE_FORMAT_QCOW2) {
		errmsg__set(err, errlen, "--drive: base-digest= is for a qcow2 overlay's base "
			     "image (format=qcow2)");
		return -EINVAL;
	}
	return 0;
}

const char *drive__cache_name(enum drive_cache c)
{
	return c == DRIVE_CACHE_NONE ? "none" : "writeback";
}

const char *drive__base_digest_name(enum drive_base_digest m)
{
	return m == DRIVE_BASE_DIGEST_AHEAD ? "ahead" :
	       m == DRIVE_BASE_DIGEST_LAZY ? "lazy" : "auto";
}
