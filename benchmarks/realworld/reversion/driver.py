"""django-reversion as a site uses it: a registered model is saved inside revisions, its
history is read back through the public Version API, deleted objects are listed for recovery,
and the documented cleanup command purges old revisions."""

from __future__ import annotations

import rwdriver

rwdriver.setup()

import reversion  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from reversion.models import Revision, Version  # noqa: E402

reversion.register(Group)
groups = []
for i in range(60):
    with reversion.create_revision():
        group = Group.objects.create(name=f"team-{i}")
        reversion.set_comment(f"created team {i}")
    for j in range(3):
        with reversion.create_revision():
            group.name = f"team-{i}-v{j}"
            group.save()
    groups.append(group)
for group in groups[:10]:
    group.delete()

for group in groups[10:40]:
    versions = Version.objects.get_for_object(group)
    list(versions[:5])
    versions.first()
    Version.objects.get_for_object_reference(Group, group.pk).count()
list(Version.objects.get_for_model(Group)[:20])
for version in Version.objects.get_deleted(Group)[:10]:
    version.revision.revert()
list(Revision.objects.order_by("-date_created")[:20])
call_command("deleterevisions", "auth", days=30, verbosity=0)
call_command("deleterevisions", "auth", keep=2, verbosity=0)
