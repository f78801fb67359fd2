/* SPDX-License-Identifier: MIT
 *
 * Releasing the shared model structs. Any thread.
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>

void customer_clear(struct customer *c)
{
    if (!c)
        return;
    free(c->dc_id);
    free(c->id);
    free(c->name);
    free(c->imported_address);
    memset(c, 0, sizeof(*c));
}

void waypoint_clear(struct waypoint *w)
{
    if (!w)
        return;
    free(w->dc_id);
    free(w->id);
    free(w->customer_id);
    free(w->route_id);
    free(w->status);
    memset(w, 0, sizeof(*w));
}

void waypoints_clear(struct waypoint *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        waypoint_clear(&w[i]);
}
