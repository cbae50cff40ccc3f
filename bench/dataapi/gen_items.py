"""Writes the bench collection: N todo items owned by 100 users (user000..user099), one
Extended JSON document per line, and the ids of user000's items (the ones the findOne load
asks for) one per line."""

import json
import sys

count = int(sys.argv[1])
items_path, ids_path = sys.argv[2], sys.argv[3]
with open(items_path, "w") as items, open(ids_path, "w") as ids:
    for number in range(count):
        oid = "%024x" % (0x650000000000000000000000 + number)
        owner = "user%03d" % (number % 100)
        document = {
            "_id": {"$oid": oid},
            "owner": owner,
            "title": "item %d" % number,
            "done": number % 3 == 0,
            "public": number % 50 == 0,
            "tags": ["bench", "t%d" % (number % 7)],
        }
        items.write(json.dumps(document, separators=(",", ":")) + "\n")
        if owner == "user000":
            ids.write(oid + "\n")
