/* autostart.c - autostart follows the guest: set on the host where it lives, off where its
 * old definition stays (see docs/API.md). */
#include <libvirt/virterror.h>

#include "move_priv.h"

int virt_autostart_set(struct virt *v, const char *host, const char *uuid, bool on, struct err *e)
{
    virConnectPtr c = host ? virt_remote_get(v, host, e) : virt_conn_get(v, e);
    if (!c)
        return -1;
    virDomainPtr d = virDomainLookupByUUIDString(c, uuid);
    virErrorPtr le = d ? NULL : virGetLastError();
    int rc = -1, now = -1;
    if (!d && !on && le && le->code == VIR_ERR_NO_DOMAIN)
        rc = 0; /* no definition there: nothing that could start */
    else if (!d)
        virt_err_libvirt(e, ERR_BACKEND, M_MIG_AUTOSTART, "the guest cannot be looked up");
    else if (virDomainIsPersistent(d) != 1 && !on)
        rc = 0; /* a transient guest has no autostart */
    else if (virDomainGetAutostart(d, &now) == 0 && now == (on ? 1 : 0))
        rc = 0;
    else if (virDomainSetAutostart(d, on ? 1 : 0) == 0)
        rc = 0;
    else
        virt_err_libvirt(e, ERR_BACKEND, M_MIG_AUTOSTART, "libvirt refused the change");
    if (d)
        virDomainFree(d);
    virConnectClose(c);
    return rc;
}
