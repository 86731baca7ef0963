/* libvirt_floor URI - what any libvirt client pays before it can list the guests: opens URI,
 * reads every guest's stats and XML (what kimchid's first refresh asks for), and exits. Run
 * under a timer by bench/list.sh, whose start target sits beside it: kimchid's start cannot
 * be shorter than this program's whole run. Prints nothing unless it fails. */
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    virConnectPtr c = argc == 2 ? virConnectOpen(argv[1]) : NULL;
    virDomainStatsRecordPtr *recs = NULL;
    int n = c ? virConnectGetAllDomainStats(c, 0, &recs, 0) : -1;
    for (int i = 0; i < n; i++)
        free(virDomainGetXMLDesc(recs[i]->dom, 0));
    if (recs)
        virDomainStatsRecordListFree(recs);
    if (c)
        virConnectClose(c);
    if (n < 0)
        fprintf(stderr, "libvirt_floor: cannot read the guests of %s\n", argc == 2 ? argv[1] : "?");
    return n < 0;
}
