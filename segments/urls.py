from connext.viewsets import OptionalSlashRouter
from segments.views import SegmentViewSet

router = OptionalSlashRouter()
router.register("segments", SegmentViewSet, basename="segment")

urlpatterns = router.urls
