/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef SELFTESTS_VFIO_LIB_INCLUDE_LIBVFIO_SYSFS_H
#define SELFTESTS_VFIO_LIB_INCLUDE_LIBVFIO_SYSFS_H

int sysfs_sriov_totalvfs_get(const char *bdf);
int sysfs_sriov_numvfs_get(const char *bdf);
void sysfs_sriov_numvfs_set(const char *bdf, int numvfs);
char *sysfs_sriov_vf_bdf_get(const char *pf_bdf, int i);
int sysfs_iommu_group_get(const char *bdf);
char *sysfs_driver_get(const char *bdf);

/*
 * Wait up to 5 s for the device's runtime PM status to be "suspended"
 * (the PM core suspends a device from a work item once its last user let
 * go). False when it was not in time, or when the kernel has no runtime
 * PM (CONFIG_PM: no power/runtime_status).
 */
bool sysfs_runtime_suspended_wait(const char *bdf);

#endif /* SELFTESTS_VFIO_LIB_INCLUDE_LIBVFIO_SYSFS_H */
