/* heartbeat.c - the lab's test guest program (static, run by the initramfs as PID 1).
 * Once a second it prints one line on the serial console:
 *   HB <counter> boot=<boot id> mem=ok|BAD:<pages> disk=ok|BAD:<block>|none
 * so a test can tell, from the console file on each host, that a guest survived a move:
 * the same boot id, a counter that carries on, and two integrity checks that a counter
 * cannot fake:
 *   mem  - a working set filled with data derived from (page, generation); pages are
 *          rewritten at a set dirty rate and every page is re-verified each second, so a
 *          page lost or stale after a migration shows up;
 *   disk - one 4 KiB block written each second (O_DIRECT|O_SYNC) and an older block read
 *          back, so a write lost by a storage copy shows up.
 * Knobs on the kernel command line: hb.ws=MiB (working set, default 16),
 * hb.dirty=MiB/s (default 0), hb.disk=/dev/vda (default: no disk check). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define BLOCK 4096
#define BLOCKS 1024 /* the disk check cycles through the first 4 MiB */
#define SLICES 10   /* dirtying is spread over ten slices a second */

static char boot_id[40] = "unknown";
static long ws_mib = 16, dirty_mib;
static char disk_dev[64];

static void read_cmdline(void)
{
    char buf[1024] = "";
    FILE *f = fopen("/proc/cmdline", "r");
    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = 0;
        fclose(f);
    }
    for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n")) {
        if (strncmp(tok, "hb.ws=", 6) == 0)
            ws_mib = atol(tok + 6);
        else if (strncmp(tok, "hb.dirty=", 9) == 0)
            dirty_mib = atol(tok + 9);
        else if (strncmp(tok, "hb.disk=", 8) == 0)
            snprintf(disk_dev, sizeof(disk_dev), "%s", tok + 8);
    }
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (fgets(boot_id, sizeof(boot_id), f))
            boot_id[strcspn(boot_id, "\n")] = 0;
        fclose(f);
    }
}

/* ---- memory ---- */
static uint64_t *ws;
static uint32_t *gen;
static size_t npages, cursor;

static uint64_t word(size_t page, uint32_t g, size_t i)
{
    uint64_t x = ((uint64_t)page << 32) ^ ((uint64_t)g << 12) ^ i;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    return x ^ (x >> 29);
}

static void fill_page(size_t p)
{
    uint64_t *w = ws + p * (PAGE / 8);
    for (size_t i = 0; i < PAGE / 8; i++)
        w[i] = word(p, gen[p], i);
}

static int page_ok(size_t p)
{
    const uint64_t *w = ws + p * (PAGE / 8);
    for (size_t i = 0; i < PAGE / 8; i++)
        if (w[i] != word(p, gen[p], i))
            return 0;
    return 1;
}

static void dirty_pages(size_t n)
{
    for (size_t k = 0; k < n && npages; k++) {
        gen[cursor]++;
        fill_page(cursor);
        cursor = (cursor + 1) % npages;
    }
}

static size_t verify_all(void)
{
    size_t bad = 0;
    for (size_t p = 0; p < npages; p++)
        bad += !page_ok(p);
    return bad;
}

/* ---- disk ---- */
static int disk_fd = -1;
static unsigned char *blk;

struct block_head {
    char magic[8];
    char boot[40];
    uint64_t counter;
};

static int write_block(uint64_t counter)
{
    memset(blk, (int)(counter & 0xff), BLOCK);
    struct block_head *h = (struct block_head *)blk;
    memcpy(h->magic, "KIMCHHB1", 8);
    snprintf(h->boot, sizeof(h->boot), "%s", boot_id);
    h->counter = counter;
    return pwrite(disk_fd, blk, BLOCK, (off_t)(counter % BLOCKS) * BLOCK) == BLOCK ? 0 : -1;
}

static int block_ok(uint64_t counter)
{
    if (pread(disk_fd, blk, BLOCK, (off_t)(counter % BLOCKS) * BLOCK) != BLOCK)
        return 0;
    const struct block_head *h = (const struct block_head *)blk;
    if (memcmp(h->magic, "KIMCHHB1", 8) != 0 || strcmp(h->boot, boot_id) != 0 ||
        h->counter != counter)
        return 0;
    for (size_t i = sizeof(*h); i < BLOCK; i++)
        if (blk[i] != (unsigned char)(counter & 0xff))
            return 0;
    return 1;
}

/* Writes this second's block, then reads back the previous one and one picked from the
 * last BLOCKS-1 seconds. Returns "ok", "none" or "BAD:<counter>" in out. */
static void disk_check(uint64_t counter, char *out, size_t len)
{
    if (disk_fd < 0) {
        snprintf(out, len, "%s", disk_dev[0] ? "BAD:open" : "none");
        return;
    }
    if (write_block(counter) < 0) {
        snprintf(out, len, "BAD:write%llu", (unsigned long long)counter);
        return;
    }
    uint64_t older[2] = {counter, counter};
    if (counter > 0)
        older[0] = counter - 1;
    if (counter > 1)
        older[1] = counter - 1 - (uint64_t)rand() % (counter < BLOCKS ? counter - 1 : BLOCKS - 2);
    for (int i = 0; i < 2; i++)
        if (!block_ok(older[i])) {
            snprintf(out, len, "BAD:%llu", (unsigned long long)older[i]);
            return;
        }
    snprintf(out, len, "ok");
}

static void open_disk(void)
{
    if (!disk_dev[0])
        return;
    for (int i = 0; i < 100 && access(disk_dev, F_OK) != 0; i++)
        usleep(100000); /* the virtio_blk module may still be probing */
    disk_fd = open(disk_dev, O_RDWR | O_DIRECT | O_SYNC);
    if (posix_memalign((void **)&blk, BLOCK, BLOCK) != 0)
        blk = NULL;
    if (!blk && disk_fd >= 0) {
        close(disk_fd);
        disk_fd = -1;
    }
}

static void tick_wait(struct timespec *next, long ns)
{
    next->tv_nsec += ns;
    while (next->tv_nsec >= 1000000000L) {
        next->tv_nsec -= 1000000000L;
        next->tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL);
}

int main(void)
{
    read_cmdline();
    npages = (size_t)ws_mib * 1024 * 1024 / PAGE;
    ws = mmap(NULL, npages * PAGE + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
              -1, 0);
    gen = calloc(npages + 1, sizeof(*gen));
    if (ws == MAP_FAILED || !gen) {
        printf("HB-ERROR cannot allocate %ld MiB\n", ws_mib);
        return 1;
    }
    for (size_t p = 0; p < npages; p++)
        fill_page(p);
    open_disk();
    srand((unsigned)getpid());
    printf("BOOT boot=%s ws=%ld dirty=%ld disk=%s\n", boot_id, ws_mib, dirty_mib,
           disk_dev[0] ? disk_dev : "none");
    fflush(stdout);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    size_t per_slice = (size_t)dirty_mib * 1024 * 1024 / PAGE / SLICES;
    for (uint64_t counter = 0;; counter++) {
        for (int s = 0; s < SLICES; s++) {
            dirty_pages(per_slice);
            tick_wait(&next, 1000000000L / SLICES);
        }
        size_t bad = verify_all();
        char disk[48];
        disk_check(counter, disk, sizeof(disk));
        char mem[32];
        snprintf(mem, sizeof(mem), bad ? "BAD:%zu" : "ok", bad);
        printf("HB %llu boot=%s mem=%s disk=%s\n", (unsigned long long)counter, boot_id, mem,
               disk);
        fflush(stdout);
    }
}
