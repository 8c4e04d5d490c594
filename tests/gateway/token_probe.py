"""Run as a script (its own process, its own ``SOFTHSM2_CONF``): what the token says of its
private keys, as JSON: their labels, whether they may leave, and whether CKA_VALUE reads."""

from __future__ import annotations

import json
import sys

import pkcs11
from pkcs11 import Attribute, ObjectClass


def main(module: str, token_label: str, pin: str) -> None:
    token = pkcs11.lib(module).get_token(token_label=token_label)
    with token.open(user_pin=pin) as session:
        held = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
        keys = [
            {
                "label": key[Attribute.LABEL],
                "extractable": key[Attribute.EXTRACTABLE],
                "sensitive": key[Attribute.SENSITIVE],
                "never_extractable": key[Attribute.NEVER_EXTRACTABLE],
                "local": key[Attribute.LOCAL],
            }
            for key in held
        ]
        readable = []
        for key in held:
            try:
                key[Attribute.VALUE]
                readable.append(True)
            except pkcs11.exceptions.PKCS11Error:
                readable.append(False)
    print(json.dumps({"keys": keys, "value_readable": any(readable)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
