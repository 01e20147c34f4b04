"""Many mint requests at once, through a real worker on the `chain` queue and a real anvil."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from registry.models import Certificate, ChainTransaction, Mint, MintState
from registry.services import (
    certificate_prepare,
    certificate_sign_custodial,
    mint_request,
    wallet_custodial_get_or_create,
)

from accounts.models import User
from tests.platform.conftest import running_worker
from tests.platform.registry.conftest import RegistryChain, painting_png

pytestmark = [pytest.mark.chain, pytest.mark.worker]


def _in_thread(work: Callable[[], Any]) -> Callable[[], Any]:
    """Run `work` on its own database connection, as a web request would."""

    def run() -> Any:
        try:
            return work()
        finally:
            connection.close()

    return run


def test_concurrent_requests_give_one_token_per_work_and_no_nonce_errors(
    registry_chain: RegistryChain,
    transactional_db: None,
    artist: User,
    tmp_path: Path,
) -> None:
    queue_dir = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    shutil.rmtree(queue_dir, ignore_errors=True)
    queue_dir.mkdir(parents=True)
    wallet = wallet_custodial_get_or_create(owner=artist)
    certificates = []
    for index in range(13):
        prepared = certificate_prepare(
            owner=artist, wallet=wallet, image=painting_png(100 + index), image_name=f"{index}.png"
        )
        certificates.append(certificate_sign_custodial(certificate=prepared, owner=artist))
    many, same = certificates[:12], certificates[12]

    with running_worker(settings.CELERY_BROKER_URL, tmp_path, queues="chain", **registry_chain.env):
        requests = [_in_thread(lambda c=c: mint_request(certificate=c, owner=artist)) for c in many]
        requests += [_in_thread(lambda: mint_request(certificate=same, owner=artist))] * 10
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            mints = [future.result() for future in [pool.submit(r) for r in requests]]
        deadline = time.monotonic() + 120
        while Mint.objects.exclude(state__in=[MintState.CONFIRMED, MintState.FAILED]).exists():
            assert time.monotonic() < deadline, (
                "mints still unfinished after 120 s: "
                f"{list(Mint.objects.values('state', 'job__state', 'job__celery_task_id'))}"
            )
            time.sleep(0.5)

    assert len({mint.pk for mint in mints}) == 13  # the ten requests for one work share a mint
    assert Mint.objects.count() == 13
    assert list(Mint.objects.exclude(state=MintState.CONFIRMED).values("error")) == []
    assert registry_chain.chain.contract.functions.totalMinted().call() == 13
    nonces = list(ChainTransaction.objects.values_list("nonce", flat=True))
    assert len(nonces) == len(set(nonces)) == 13
    assert not ChainTransaction.objects.exclude(state="confirmed").exists()
    token_ids = {mint.token_id for mint in Mint.objects.all()}
    assert token_ids == set(range(1, 14))
    for certificate in Certificate.objects.all():
        assert registry_chain.chain.token_of_content(bytes.fromhex(certificate.content_hash))
