/*
 * chexport_int.h - what the exporter's files share: the table names and
 * the statements that create them (chschema.c).
 */
#ifndef CS_EXPORT_CHEXPORT_INT_H
#define CS_EXPORT_CHEXPORT_INT_H

#include "export/chclient.h"
#include "export/chexport.h"

#define CS__CHX_TABLES CS_CHX_TABLES

/* Table names by CS_CHX_* index. */
extern const char *const cs__chx_table_names[CS__CHX_TABLES];

/* Creates the database and every table that is missing. */
int cs__chx_create_tables(cs_ch *c, const char *db);

/* Deletes the rows of "sensor" in "table" (CS_CHX_MESSAGES .. _GAPS) that
 * came from the record file "seg" of a store of "partitions" partitions
 * (see chschema.c). "sensor" is a checked sensor name (no quote). */
int cs__chx_delete_file(cs_ch *c, const char *db, int table, const char *sensor, uint32_t seg,
                        uint32_t partitions);

#endif
