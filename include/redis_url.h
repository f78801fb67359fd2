/* SPDX-License-Identifier: MIT
 *
 * A Redis address as the command line gives it: redis://HOST:PORT[/DB].
 */
#ifndef WAYPOINTD_REDIS_URL_H
#define WAYPOINTD_REDIS_URL_H

/* Parse url into host (malloc'd, the caller frees it), port (1 to 65535)
 * and database number (0 when not given). 0, -EINVAL (not such a URL;
 * *host stays NULL) or -ENOMEM. */
int redis_url_parse(const char *url, char **host, int *port, int *dbnum);

#endif
