/*
 * result.c - results: figures and missing figures, the ratios, the printed
 * report and bench-results.json.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void bench_value_set(struct bench_value *v, double value)
{
	v->ok = 1;
	v->value = value;
	v->p99 = 0;
	v->paired = 0;
	v->reason[0] = '\0';
}

void bench_value_set_samples(struct bench_value *v, double *ns,
			     unsigned int n)
{
	/* Nearest rank: the smallest sample at or above 99% of them. */
	unsigned int rank = (unsigned int)(((uint64_t)n * 99 + 99) / 100);

	bench_value_set(v, bench_median(ns, n));
	v->p99 = ns[rank - 1];
}

void bench_value_missing(struct bench_value *v, const char *fmt, ...)
{
	va_list ap;

	v->ok = 0;
	v->value = 0;
	v->p99 = 0;
	v->paired = 0;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
}

struct bench_peer *bench_add_peer(struct bench_result *r, const char *name,
				  double target)
{
	struct bench_peer *p;

	if (r->npeers == BENCH_PEERS_MAX)
		abort();
	p = &r->peers[r->npeers++];
	p->name = name;
	p->target = target;
	bench_value_missing(&p->v, "not measured");
	return p;
}

int bench_ratio(const struct bench_result *r, const struct bench_peer *p,
		double *ratio)
{
	if (!r->ours.ok || !p->v.ok || !(p->v.value > 0))
		return 0;
	*ratio = r->ours.value / p->v.value;
	return 1;
}

/* Nanoseconds and ratios get two decimals; bytes are whole. */
static void print_figure(FILE *f, const struct bench_result *r, double x)
{
	if (strcmp(r->unit, "bytes") == 0)
		fprintf(f, "%12.0f %-5s", x, r->unit);
	else
		fprintf(f, "%12.2f %-5s", x, r->unit);
}

/* The 99th percentile, for a figure that is a median of samples. */
static void print_p99(FILE *f, const struct bench_result *r,
		      const struct bench_value *v)
{
	if (v->p99 > 0)
		fprintf(f, "  p99 %.2f %s", v->p99, r->unit);
}

/* " met" or " MISSED"; returns 1 if missed. */
static unsigned int print_verdict(FILE *f, int met)
{
	fputs(met ? " met" : " MISSED", f);
	return !met;
}

unsigned int bench_print(FILE *f, const struct bench_result *r)
{
	const struct bench_peer *p;
	unsigned int i, missed = 0;
	double ratio = 0;
	int have;

	fprintf(f, "%s: %s\n", r->name, r->what);
	if (r->ours.ok) {
		fprintf(f, "  %-17s", "parcore");
		print_figure(f, r, r->ours.value);
		if (r->ours_target > 0) {
			fprintf(f, "  %14s  target <= %.0f %s", "",
				r->ours_target, r->unit);
			missed += print_verdict(f,
					r->ours.value <= r->ours_target);
		}
		print_p99(f, r, &r->ours);
		fputc('\n', f);
	} else {
		fprintf(f, "  %-17s missing: parcore (%s)\n", "parcore",
			r->ours.reason);
	}
	for (i = 0; i < r->npeers; i++) {
		p = &r->peers[i];
		if (!p->v.ok) {
			fprintf(f, "  %-17s missing: %s (%s)\n", p->name,
				p->name, p->v.reason);
			continue;
		}
		fprintf(f, "  %-17s", p->name);
		print_figure(f, r, p->v.value);
		have = bench_ratio(r, p, &ratio);
		if (have)
			fprintf(f, "  ratio %8.4f", ratio);
		else
			fprintf(f, "  ratio %8s", "-");
		if (p->target > 0) {
			fprintf(f, "  target <= %-6.4g", p->target);
			if (have)
				missed += print_verdict(f, ratio <= p->target);
			else
				fputs(" not judged", f);
		}
		print_p99(f, r, &p->v);
		fputc('\n', f);
	}
	fputc('\n', f);
	return missed;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *c;

	fputc('"', f);
	for (c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c == '\n')
			fputs("\\n", f);
		else if (*c == '\t')
			fputs("\\t", f);
		else if (*c < 0x20 || *c == 0x7f)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

/* JSON has no NaN or infinity: those, like a missing figure, are null. */
static void json_number(FILE *f, int ok, double x)
{
	if (ok && isfinite(x))
		fprintf(f, "%.6g", x);
	else
		fputs("null", f);
}

static void json_result(FILE *f, const struct bench_result *r)
{
	const struct bench_peer *p;
	double ratio = 0;
	unsigned int i;
	int ok;

	fputs("  {\"benchmark\": ", f);
	json_string(f, r->name);
	fputs(", \"unit\": ", f);
	json_string(f, r->unit);
	fputs(", \"ours\": ", f);
	json_number(f, r->ours.ok, r->ours.value);
	fputs(",\n   \"peers\": {", f);
	for (i = 0; i < r->npeers; i++) {
		p = &r->peers[i];
		fputs(i ? ", " : "", f);
		json_string(f, p->name);
		fputs(": ", f);
		json_number(f, p->v.ok, p->v.value);
	}
	fputs("},\n   \"ratios\": {", f);
	for (i = 0; i < r->npeers; i++) {
		p = &r->peers[i];
		ok = bench_ratio(r, p, &ratio);
		fputs(i ? ", " : "", f);
		json_string(f, p->name);
		fputs(": ", f);
		json_number(f, ok, ratio);
	}
	fputs("}}", f);
}

/* mkdir -p of the directory part of @path. */
static int make_parent_dirs(const char *path)
{
	char *dir, *s;
	int err = 0;

	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	for (s = strchr(dir + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
			err = -errno;
			break;
		}
		*s = '/';
	}
	free(dir);
	return err;
}

int bench_write_json(const char *path, const struct bench_result *r,
		     unsigned int n)
{
	char tmp[4096];
	unsigned int i;
	FILE *f;
	int err;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	err = make_parent_dirs(path);
	if (err)
		return err;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fputs("[\n", f);
	for (i = 0; i < n; i++) {
		json_result(f, &r[i]);
		fputs(i + 1 < n ? ",\n" : "\n", f);
	}
	fputs("]\n", f);
	err = ferror(f) ? -EIO : 0;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
