-- The autoscaler acts on a new scaling group and on a size set by hand (SetDesiredSize,
-- UpdateScalingGroup with desired_size) at once, on whichever replica leads, instead of at its
-- next period: NOTIFY overcast_scaling. Its own rounds clear manual_desired and never notify.
CREATE FUNCTION scaling_groups_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('overcast_scaling', NEW.project || '/' || NEW.id);
    RETURN NULL;
END $$;

CREATE TRIGGER scaling_groups_created AFTER INSERT ON scaling_groups
    FOR EACH ROW EXECUTE FUNCTION scaling_groups_notify();
CREATE TRIGGER scaling_groups_sized_by_hand AFTER UPDATE OF manual_desired ON scaling_groups
    FOR EACH ROW WHEN (NEW.manual_desired IS NOT NULL) EXECUTE FUNCTION scaling_groups_notify();
