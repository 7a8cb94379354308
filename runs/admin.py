from django.contrib import admin

from runs.models import LogChunk, Run, WorkerHeartbeat

admin.site.register(Run)
admin.site.register(LogChunk)
admin.site.register(WorkerHeartbeat)
