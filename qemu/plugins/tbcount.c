/* tbcount: counts how often each translated block runs, for a guest-side
 * instruction profile of the ROM under QEMU TCG (measurement only; see
 * README.md). QEMU 7.2's plugin API, version 1: the few declarations used
 * are written out here so no QEMU source tree is needed. At exit it writes
 * "pc insns count" lines to $HOT_OUT (default /tmp/tbcount.txt). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*udata_cb)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define N (1 << 20)
struct e { uint64_t pc, n, count; };
static struct e *tab;
static struct e *slot(uint64_t pc, uint64_t n) {
    uint64_t h = (pc * 0x9E3779B97F4A7C15ull ^ n) & (N - 1);
    while (tab[h].pc && !(tab[h].pc == pc && tab[h].n == n)) h = (h + 1) & (N - 1);
    tab[h].pc = pc; tab[h].n = n;
    return &tab[h];
}
static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    struct e *s = slot(qemu_plugin_tb_vaddr(tb), qemu_plugin_tb_n_insns(tb));
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &s->count, 1);
}
static void done(qemu_plugin_id_t id, void *p) {
    const char *path = getenv("HOT_OUT");
    FILE *f = fopen(path ? path : "/tmp/tbcount.txt", "w");
    for (uint64_t i = 0; i < N; i++)
        if (tab[i].count) fprintf(f, "%lx %lu %lu\n", tab[i].pc, tab[i].n, tab[i].count);
    fclose(f);
}
__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    tab = calloc(N, sizeof *tab);
    qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
    qemu_plugin_register_atexit_cb(id, done, NULL);
    return 0;
}
