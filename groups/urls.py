from connext.viewsets import OptionalSlashRouter
from groups.views import GroupViewSet

router = OptionalSlashRouter()
router.register("groups", GroupViewSet, basename="group")

urlpatterns = router.urls
